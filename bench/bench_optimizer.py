"""The optimizer on the example's ~10 KB ``/premises`` response, in one run.

    .venv/bin/python bench/bench_optimizer.py [--duration 4 --rounds 3] [--levels]

Targets (issue 5), each a ratio of requests per second taken within one group of servers:

* cache: a response-cache hit at least 3x the uncached route (both on the optimizer's app,
  the client accepting ``gzip, deflate, br, zstd`` as browsers do);
* compression: for each of zstd, br and gzip, the optimizer's defaults at least as fast as
  flask-compress 1.x with its defaults (zstd 3, br 4, gzip 6), at an equal or better ratio.
  Both are measured with the optimizer's memo of compressed bodies on (its default) and off
  (every response compressed again, as for content that changes on every request).

The service is ``examples/directmail`` on a SQLite file in /tmp (seeded once, before the
servers start), ``GET /premises?limit=64`` (10,140 B of JSON: one page of 64 premises). The
optimizer's app has only the optimizer plugin, flask-compress's app none (``Compress(app.app)``).
``--levels`` also prints the in-process cost and ratio of each level on that body, the
figures the default levels were chosen from.

``--coalescing`` measures miss coalescing instead: ``--connections`` (64) keep-alive
connections send the same request at once on a cold key (``/premises?limit=64&offset=N``,
a new N per burst), ``--bursts`` (30) times, with ``cache_fill_wait`` 10 (on) and 0 (off):
one worker with the memory cache, and two uvicorn workers sharing the local Redis (when it
answers). It prints how many requests ran the view per burst (``Cache-Status`` says
``fwd=uri-miss``), the time until the whole burst was answered and the p50 latency.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Result, Scenario, report, run

DATABASE = "sqlite:////tmp/chassis-bench-directmail.db"
PATH = "/premises?limit=64"
BROWSER = "gzip, deflate, br, zstd"
CODINGS = ("zstd", "br", "gzip")

BASE_ENV = {
    "CHASSIS_LOG_LEVEL": "WARNING",
    "CHASSIS_SQLALCHEMY__URL": DATABASE,
}
OPTIMIZER = {**BASE_ENV, "CHASSIS_PLUGINS": "optimizer"}
UNCACHED = {**OPTIMIZER, "CHASSIS_OPTIMIZER__CACHE_ENABLED": "false"}
NO_MEMO = {**UNCACHED, "CHASSIS_OPTIMIZER__COMPRESS_MEMO_BYTES": "0"}
FLASK_COMPRESS = {**BASE_ENV, "CHASSIS_PLUGINS": ""}


def flask_compress_app() -> Any:
    """The example service with flask-compress (its defaults) instead of the optimizer."""
    from directmail.service import create_app
    from flask_compress import Compress

    app = create_app()
    Compress(app.app)
    return app


def _seed() -> None:
    from chassis_sqlalchemy.testing import migrate
    from directmail.service import MIGRATIONS

    migrate(DATABASE, MIGRATIONS)


def _sizes() -> dict[str, dict[str, int]]:
    """Bytes of the response for each Accept-Encoding, from each app (in this process)."""
    from directmail.service import create_app
    from flask_compress import Compress

    common = {"log_level": "WARNING", "sqlalchemy": {"url": DATABASE}}
    optimizer = create_app(settings={**common, "plugins": ["optimizer"]})
    flask = create_app(settings={**common, "plugins": []})
    Compress(flask.app)
    sizes: dict[str, dict[str, int]] = {}
    for name, app in (("optimizer", optimizer), ("flask-compress", flask)):
        with app.test_client() as client:
            sizes[name] = {}
            for coding in ("identity", *CODINGS):
                with client.stream("GET", PATH, headers={"Accept-Encoding": coding}) as response:
                    body = b"".join(response.iter_raw())
                    assert response.headers.get("content-encoding", "identity") == coding, name
                sizes[name][coding] = len(body)
    return sizes


def _levels() -> None:
    """In-process cost and ratio of each level on the benchmarked body."""
    import brotli
    import zstandard
    from directmail.service import create_app

    app = create_app(
        settings={"plugins": [], "log_level": "WARNING", "sqlalchemy": {"url": DATABASE}}
    )
    with app.test_client() as client:
        body = client.get(PATH, headers={"Accept-Encoding": "identity"}).content

    def gzip(level: int) -> Any:
        def compress(data: bytes) -> bytes:
            compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
            return compressor.compress(data) + compressor.flush()

        return compress

    candidates = {
        "zstd": {lvl: zstandard.ZstdCompressor(level=lvl).compress for lvl in (1, 2, 3, 4, 6, 9)},
        "br": {lvl: (lambda d, q=lvl: brotli.compress(d, quality=q)) for lvl in (1, 3, 4, 5, 6, 9)},
        "gzip": {lvl: gzip(lvl) for lvl in (1, 3, 5, 6, 9)},
    }
    print(f"\n== levels on the {len(body)} B body (in-process, median of 200)")
    print(f"{'coding':<8}{'level':>6}{'us':>9}{'bytes':>8}{'ratio':>8}")
    for coding, levels in candidates.items():
        for level, compress in levels.items():
            times = []
            for _ in range(200):
                started = time.perf_counter()
                out = compress(body)
                times.append(time.perf_counter() - started)
            times.sort()
            print(
                f"{coding:<8}{level:>6}{times[100] * 1e6:>9.1f}{len(out):>8}"
                f"{len(body) / len(out):>8.2f}"
            )


def _burst_server(env: dict[str, str], workers: int) -> tuple[subprocess.Popen[bytes], int]:
    import socket

    from bench.harness import ROOT, clean_env

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "directmail.service:create_app",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=clean_env(env))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the coalescing server did not start")


async def _bursts(port: int, connections: int, bursts: int) -> dict[str, float]:
    """``bursts`` times, the same request on every connection at once; a new key each time."""
    import asyncio
    import statistics

    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]

    async def fetch(reader: Any, writer: Any, request: bytes) -> tuple[int, bool, float]:
        started = time.perf_counter()
        writer.write(request)
        status = int((await reader.readline()).split()[1])
        length, ran_view = 0, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"cache-status":
                ran_view = b"fwd=uri-miss" in value
        await reader.readexactly(length)
        return status, ran_view, time.perf_counter() - started

    runs, spans, latencies, failures = [], [], [], 0
    try:
        for burst in range(bursts):
            path = f"/premises?limit=64&offset={burst}"
            request = (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Accept-Encoding: {BROWSER}\r\n\r\n"
            ).encode()
            started = time.perf_counter()
            answers = await asyncio.gather(*(fetch(r, w, request) for r, w in streams))
            spans.append(time.perf_counter() - started)
            runs.append(sum(ran for _, ran, _ in answers))
            latencies += [latency for _, _, latency in answers]
            failures += sum(status != 200 for status, _, _ in answers)
    finally:
        for _, writer in streams:
            writer.close()
    return {
        "runs": statistics.mean(runs),
        "burst_ms": statistics.median(spans) * 1000,
        "p50_ms": statistics.median(latencies) * 1000,
        "failures": failures,
    }


def _coalescing(connections: int, bursts: int) -> bool:
    import asyncio
    import socket
    import uuid

    setups = [("memory, 1 worker", 1, {})]
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        redis_url = "redis://127.0.0.1:6379/0"
        setups.append(("redis, 2 workers", 2, {"CHASSIS_OPTIMIZER__CACHE_URL": redis_url}))
    except OSError:
        redis_url = None
        print("(Redis is not reachable on 127.0.0.1:6379: the 2-worker setup is skipped)")

    print(f"\n== coalescing: {connections} connections, {bursts} bursts on cold keys")
    print(f"{'setup':<20}{'cache_fill_wait':>16}{'views/burst':>13}{'burst ms':>10}{'p50 ms':>8}")
    ok = True
    prefix = f"bench:coalescing:{uuid.uuid4().hex}:"
    try:
        for name, workers, extra in setups:
            for wait in ("10", "0"):
                env = {
                    **OPTIMIZER,
                    **extra,
                    "CHASSIS_LOG_LEVEL": "ERROR",
                    "CHASSIS_OPTIMIZER__CACHE_FILL_WAIT": wait,
                    "CHASSIS_OPTIMIZER__CACHE_KEY_PREFIX": f"{prefix}{wait}:",
                }
                process, port = _burst_server(env, workers)
                try:
                    found = asyncio.run(_bursts(port, connections, bursts))
                finally:
                    process.terminate()
                    process.wait(timeout=20)
                ok &= found["failures"] == 0
                print(
                    f"{name:<20}{wait:>16}{found['runs']:>13.1f}{found['burst_ms']:>10.1f}"
                    f"{found['p50_ms']:>8.1f}"
                    + (f"  {found['failures']:.0f} non-200" * bool(found["failures"]))
                )
    finally:
        if redis_url is not None:
            import redis

            client = redis.Redis.from_url(redis_url)
            keys = list(client.scan_iter(match=prefix + "*"))
            if keys:
                client.delete(*keys)
            client.close()
    return ok


def _scenario(name: str, env: dict[str, str], accept: str, app: str) -> Scenario:
    return Scenario(name, app=app, env=env, path=PATH, headers={"Accept-Encoding": accept})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--levels", action="store_true", help="print the level survey too")
    parser.add_argument("--coalescing", action="store_true", help="only the coalescing bursts")
    parser.add_argument("--connections", type=int, default=64, help="coalescing: per burst")
    parser.add_argument("--bursts", type=int, default=30, help="coalescing: cold keys")
    args = parser.parse_args()
    _seed()
    if args.coalescing:
        return 0 if _coalescing(args.connections, args.bursts) else 1
    service = "directmail.service:create_app"
    ours = "bench.bench_optimizer:flask_compress_app"

    sizes = _sizes()
    if args.levels:
        _levels()

    ok = True
    print(f"\n== response cache: GET {PATH}, Accept-Encoding: {BROWSER}")
    results = run(
        [
            _scenario("uncached", UNCACHED, BROWSER, service),
            _scenario("cache hit", OPTIMIZER, BROWSER, service),
        ],
        duration=args.duration,
        rounds=args.rounds,
    )
    ok &= report(results, baseline="uncached", targets={"cache hit": 3.0})
    ok &= _statuses(results)

    print(f"\n== compression: GET {PATH}, one Accept-Encoding per scenario")
    scenarios = [_scenario("identity (optimizer)", UNCACHED, "identity", service)]
    for coding in CODINGS:
        scenarios += [
            _scenario(f"flask-compress {coding}", FLASK_COMPRESS, coding, ours),
            _scenario(f"optimizer {coding}", UNCACHED, coding, service),
            _scenario(f"optimizer {coding}, no memo", NO_MEMO, coding, service),
        ]
    results = run(scenarios, duration=args.duration, rounds=args.rounds)
    ok &= _statuses(results)
    for coding in CODINGS:
        subset = {
            name: result
            for name, result in results.items()
            if name.endswith(coding) or name.endswith(f"{coding}, no memo")
        }
        print(f"\n-- {coding}")
        ok &= report(
            subset,
            baseline=f"flask-compress {coding}",
            targets={f"optimizer {coding}": 1.0, f"optimizer {coding}, no memo": 1.0},
        )
        ok &= _ratio_check(sizes, coding)
    base = results["identity (optimizer)"]
    print("\n-- every scenario against the uncompressed response (optimizer, identity)")
    report(results, baseline=base.scenario.name)

    print("\n== bytes per response and compression ratio (identity bytes / bytes)")
    print(f"{'app':<16}" + "".join(f"{coding:>16}" for coding in ("identity", *CODINGS)))
    for app_name, by_coding in sizes.items():
        cells = [f"{by_coding['identity']:>16}"]
        for coding in CODINGS:
            ratio = by_coding["identity"] / by_coding[coding]
            cells.append(f"{by_coding[coding]:>8} ({ratio:4.1f}x)")
        print(f"{app_name:<16}" + "".join(cells))

    print("\nall targets met" if ok else "\nSOME TARGETS MISSED")
    return 0 if ok else 1


def _ratio_check(sizes: dict[str, dict[str, int]], coding: str) -> bool:
    ours = sizes["optimizer"]["identity"] / sizes["optimizer"][coding]
    theirs = sizes["flask-compress"]["identity"] / sizes["flask-compress"][coding]
    met = ours >= theirs * 0.999
    print(
        f"ratio {coding}: optimizer {ours:.2f}x, flask-compress {theirs:.2f}x "
        f"(target: equal or better) {'met' if met else 'MISSED'}"
    )
    return met


def _statuses(results: dict[str, Result]) -> bool:
    good = True
    for name, result in results.items():
        bad = {status: n for status, n in result.statuses.items() if str(status) != "200"}
        if bad:
            print(f"{name}: non-200 answers {bad}")
            good = False
    return good


if __name__ == "__main__":
    sys.exit(main())
