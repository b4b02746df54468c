"""Soak: the example service with every plugin on, under sustained load, watching its memory.

    .venv/bin/python bench/soak.py [--duration 60 --connections 8 --segment 5 --warmup 15]

The directmail service (``directmail.service:create_app``) runs under uvicorn on one core with
tracing (spans exported over OTLP/HTTP to a receiver in this process), metrics, the optimizer
(compression, ETags, the response cache in a redis-server of its own when one is installed,
else in memory), pagination and auth (a local OpenID Connect issuer); a second process on the
other core loads it over loopback (``bench/loadgen.py``, keep-alive connections), segment
after segment, rotating through list, item, CSV, paginated and error routes. Meanwhile this
process probes ``/readyz`` every second and scrapes ``/metrics`` every 5 s, as Kubernetes and
Prometheus would. Resident memory is sampled after every segment.

Pass: no transport error and no unexpected status (5xx, or anything a route should not answer)
in the load or the probes, and resident memory at the end (median of the last three samples)
less than 5% above the first sample after the warm-up. Exit status 0 when both hold.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import LOAD_CORE, ROOT, Scenario, Server, _free_port, pinned

# (path, statuses it may answer): rotated segment after segment.
ROUTES: list[tuple[str, set[int]]] = [
    ("/premises?communities=Winson&limit=25", {200}),
    ("/premises/7", {200}),
    ("/directmail-csv?communities=Bibury", {200}),
    ("/premises?offset=50&limit=10&rfs=true", {200}),
    ("/premises/123", {200}),
    ("/premises/999999", {404}),
    ("/premises?rfs=maybe", {400}),
]
HEADERS = {"Accept-Encoding": "zstd, br, gzip", "Accept": "application/json"}
MAX_GROWTH = 0.05


def _load(port: int, path: str, connections: int, duration: float) -> dict[str, Any]:
    command = [
        *pinned(LOAD_CORE),
        sys.executable,
        str(ROOT / "bench" / "loadgen.py"),
        "--port",
        str(port),
        "--path",
        path,
        "--connections",
        str(connections),
        "--duration",
        str(duration),
    ]
    for name, value in HEADERS.items():
        command += ["--header", f"{name}: {value}"]
    output = subprocess.run(
        command, check=True, capture_output=True, text=True, timeout=duration + 60
    )
    result: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
    return result


class Probes(threading.Thread):
    """``/readyz`` every second and ``/metrics`` every 5 s, on new connections."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.counts = {"readyz": 0, "metrics": 0}
        self.failures: list[str] = []

    def _get(self, path: str) -> int:
        import httpx

        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=10).status_code

    def run(self) -> None:
        tick = 0
        while not self.stop.wait(1.0):
            tick += 1
            for path, due in (("/readyz", True), ("/metrics", tick % 5 == 0)):
                if not due:
                    continue
                try:
                    status = self._get(path)
                except Exception as error:  # every failure is reported, none is fatal here
                    self.failures.append(f"{path}: {error!r}")
                    continue
                self.counts[path.strip("/")] += 1
                if status != 200:
                    self.failures.append(f"{path}: {status}")


class OwnRedis:
    """A redis-server on a free port for the shared response cache, when one is installed."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.url = "memory://"
        binary = shutil.which("redis-server")
        if binary is None:
            return
        port = _free_port()
        arguments = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        self.process = subprocess.Popen(
            [binary, *arguments, "no", "--loglevel", "warning"], stdout=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                self.url = f"redis://127.0.0.1:{port}/0"
                return
            time.sleep(0.05)

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load in all")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--segment", type=float, default=5.0, help="seconds per route")
    parser.add_argument(
        "--warmup", type=float, default=None, help="seconds not counted (default: 15%%, >= 10)"
    )
    args = parser.parse_args()
    warmup = args.warmup if args.warmup is not None else max(10.0, args.duration * 0.15)
    print("$ " + shlex.join([".venv/bin/python", "bench/soak.py", *sys.argv[1:]]), flush=True)

    from chassis_auth.testing import LocalIssuer

    # The tests' OTLP receiver (and the helpers it imports from tests/).
    sys.path[:0] = [str(ROOT / "tests" / "integration"), str(ROOT / "tests")]
    from production_support import OtlpReceiver  # type: ignore[import-not-found]

    workdir = Path(tempfile.mkdtemp(prefix="chassis-soak-"))
    issuer = LocalIssuer(audience="directmail")
    receiver = OtlpReceiver(keep=False)
    redis = OwnRedis()
    env = {
        "CHASSIS_PLUGINS": "tracing,metrics,optimizer,pagination,auth",
        "CHASSIS_SERVICE_NAME": "directmail",
        "CHASSIS_LOG_LEVEL": "WARNING",
        "CHASSIS_SQLALCHEMY__URL": f"sqlite:///{workdir / 'directmail.db'}",
        "CHASSIS_TRACING__ENDPOINT": receiver.url,
        "CHASSIS_OPTIMIZER__CACHE_ALL": "true",
        "CHASSIS_OPTIMIZER__CACHE_TTL": "5",
        "CHASSIS_OPTIMIZER__CACHE_URL": redis.url,
        "CHASSIS_PAGINATION__CURSOR_SECRET": "soak-" + "x" * 27,
        "CHASSIS_AUTH__ISSUER": issuer.issuer,
        "CHASSIS_AUTH__AUDIENCE": "directmail",
    }
    server = Server(Scenario("directmail", app="directmail.service:create_app", env=env))
    probes = Probes(server.port)
    samples: list[tuple[float, float]] = []
    segments: list[dict[str, Any]] = []
    unexpected: list[str] = []
    cpu_before = server.cpu_seconds()
    try:
        probes.start()
        started = time.monotonic()
        number = 0
        while time.monotonic() - started < args.duration:
            path, allowed = ROUTES[number % len(ROUTES)]
            number += 1
            seconds = min(args.segment, args.duration - (time.monotonic() - started))
            if seconds < 1:
                break
            result = _load(server.port, path, args.connections, seconds)
            result["path"] = path
            result["at"] = time.monotonic() - started
            segments.append(result)
            answered = {int(status) for status in result["statuses"]}
            if result["errors"] or not answered <= allowed:
                unexpected.append(f"{path}: errors {result['errors']}, statuses {answered}")
            samples.append((result["at"], server.rss_mb()))
        elapsed = time.monotonic() - started
        cpu = server.cpu_seconds() - cpu_before
    finally:
        probes.stop.set()
        probes.join(15)
        server.stop()
        receiver.stop()
        issuer.close()
        redis.close()
        shutil.rmtree(workdir, ignore_errors=True)

    requests = sum(s["requests"] for s in segments)
    after_warmup = [rss for at, rss in samples if at >= warmup]
    if len(after_warmup) < 4:
        print(f"run too short for a memory verdict: {len(after_warmup)} samples after warm-up")
        return 2
    baseline, final = after_warmup[0], statistics.median(after_warmup[-3:])
    growth = (final - baseline) / baseline

    print(f"\nsoak: {elapsed:.0f} s, {args.connections} connections, {len(segments)} segments")
    print(f"{'route':<44}{'requests':>10}{'rps':>9}{'p50 ms':>9}{'p99 ms':>9}  statuses")
    for path, _ in ROUTES:
        mine = [s for s in segments if s["path"] == path]
        if not mine:
            continue
        count = sum(s["requests"] for s in mine)
        rps = count / sum(s["requests"] / s["rps"] for s in mine if s["rps"])
        statuses: dict[str, int] = {}
        for s in mine:
            for status, n in s["statuses"].items():
                statuses[status] = statuses.get(status, 0) + n
        print(
            f"{path:<44}{count:>10}{rps:>9.0f}"
            f"{statistics.median(s['p50_ms'] for s in mine):>9.2f}"
            f"{max(s['p99_ms'] for s in mine):>9.2f}  {statuses}"
        )
    weighted_p50 = sum(s["p50_ms"] * s["requests"] for s in segments) / max(requests, 1)
    print(
        f"\nall routes: {requests} requests, {requests / elapsed:.0f} rps, "
        f"p50 {weighted_p50:.2f} ms (request-weighted), p99 {max(s['p99_ms'] for s in segments):.2f}"
        f" ms (worst segment), server CPU {cpu / max(requests, 1) * 1e6:.0f} us/request"
    )
    print(
        f"probes: {probes.counts['readyz']} /readyz, {probes.counts['metrics']} /metrics scrapes, "
        f"{len(probes.failures)} failed; spans received by the OTLP receiver: {receiver.count()}; "
        f"response cache: {redis.url.split('://')[0]}"
    )
    print(
        "RSS MB: "
        + ", ".join(f"{at:.0f}s {rss:.1f}" for at, rss in samples)
        + f"\nmemory after warm-up ({warmup:.0f} s): {baseline:.1f} MB -> {final:.1f} MB "
        f"({growth * 100:+.2f}%, limit +{MAX_GROWTH * 100:.0f}%), peak {max(r for _, r in samples):.1f} MB"
    )
    failures = unexpected + probes.failures
    for failure in failures[:20]:
        print(f"  unexpected: {failure}")
    ok = not failures and growth < MAX_GROWTH
    print("\nsoak passed" if ok else "\nSOAK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
