"""Benchmark harness: servers under uvicorn on one core, load from a second process on another.

Every scenario's server runs at the same time (idle while another is loaded); rounds are
interleaved and rotated so that drift on a shared machine hits every scenario alike. Besides
requests per second it reads the server's CPU time per request from /proc, which is steadier
than throughput on shared machines. Ratios are taken within one run, never across runs.

Use from a ``bench/bench_*.py`` script::

    from bench.harness import Scenario, run, report
    results = run([Scenario("without"), Scenario("with", env={"CHASSIS_PLUGINS": "metrics"})])
    ok = report(results, baseline="without", targets={"with": 0.95})
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER_CORE, LOAD_CORE = "0", "1"
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Scenario:
    """One server configuration and the request it is loaded with."""

    name: str
    app: str = "bench.apps:chassis_app"
    env: Mapping[str, str] = field(default_factory=dict)
    path: str = "/items/1"
    headers: Mapping[str, str] = field(default_factory=dict)
    connections: int = 8


@dataclass
class Result:
    scenario: Scenario
    rps: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def median_rps(self) -> float:
        return statistics.median(self.rps)

    @property
    def median_cpu_us(self) -> float:
        return statistics.median(self.cpu_us)


def pinned(core: str) -> list[str]:
    return (
        ["taskset", "-c", core]
        if shutil.which("taskset") and os.cpu_count() and os.cpu_count() > 1
        else []
    )  # type: ignore[operator]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHASSIS_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


class Server:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.port = _free_port()
        command = [
            *pinned(SERVER_CORE),
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            scenario.app,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        self.process = subprocess.Popen(command, cwd=ROOT, env=clean_env(scenario.env))
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server for {self.scenario.name!r} exited at start-up")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server for {self.scenario.name!r} did not start in {timeout} s")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def load(server: Server, duration: float) -> dict:
    scenario = server.scenario
    command = [
        *pinned(LOAD_CORE),
        sys.executable,
        str(ROOT / "bench" / "loadgen.py"),
        "--port",
        str(server.port),
        "--path",
        scenario.path,
        "--connections",
        str(scenario.connections),
        "--duration",
        str(duration),
    ]
    for name, value in scenario.headers.items():
        command += ["--header", f"{name}: {value}"]
    output = subprocess.run(
        command, check=True, capture_output=True, text=True, timeout=duration + 60
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def run(
    scenarios: list[Scenario],
    *,
    duration: float = 4.0,
    rounds: int = 3,
    warmup: float = 1.0,
    check: Callable[[Mapping[str, Server]], None] | None = None,
) -> dict[str, Result]:
    """Load every scenario ``rounds`` times, interleaved; return the results by name.

    ``check``, when given, is called with the servers by scenario name after the warm-up and
    before the measured rounds (to assert that each app does what it is compared for); an
    exception it raises stops the servers and the run.
    """
    results = {s.name: Result(s) for s in scenarios}
    servers = []
    try:
        for scenario in scenarios:
            servers.append(Server(scenario))
        for server in servers:
            load(server, warmup)
        if check is not None:
            check({server.scenario.name: server for server in servers})
        for number in range(rounds):
            order = servers[number % len(servers) :] + servers[: number % len(servers)]
            for server in order:
                result = results[server.scenario.name]
                before = server.cpu_seconds()
                measured = load(server, duration)
                spent = server.cpu_seconds() - before
                result.rps.append(measured["rps"])
                result.cpu_us.append(spent / max(measured["requests"], 1) * 1e6)
                result.p50_ms.append(measured["p50_ms"])
                result.p99_ms.append(measured["p99_ms"])
                result.rss_mb.append(server.rss_mb())
                result.errors += measured["errors"]
                for status, count in measured["statuses"].items():
                    result.statuses[status] = result.statuses.get(status, 0) + count
                print(
                    f"  round {number + 1}: {server.scenario.name:<28} "
                    f"{measured['rps']:8.0f} rps  {result.cpu_us[-1]:7.0f} us CPU/req",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        for server in servers:
            server.stop()
    return results


def report(
    results: Mapping[str, Result], *, baseline: str, targets: Mapping[str, float] | None = None
) -> bool:
    """Print a table with ratios to ``baseline``; return whether every target ratio was met.

    A target is a minimum ratio of requests per second to the baseline's.
    """
    base = results[baseline]
    print(
        f"\n{'scenario':<30}{'rps':>9}{'ratio':>8}{'CPU us/req':>12}{'CPU ratio':>11}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'RSS MB':>9}{'errors':>8}  target"
    )
    ok = True
    for name, result in results.items():
        ratio = result.median_rps / base.median_rps
        cpu_ratio = base.median_cpu_us / result.median_cpu_us
        target = (targets or {}).get(name)
        verdict = ""
        if target is not None:
            met = ratio >= target
            ok &= met
            verdict = f">= {target:.2f} {'met' if met else 'MISSED'}"
        ok &= result.errors == 0
        print(
            f"{name:<30}{result.median_rps:>9.0f}{ratio:>8.3f}{result.median_cpu_us:>12.0f}"
            f"{cpu_ratio:>11.3f}{statistics.median(result.p50_ms):>9.2f}"
            f"{statistics.median(result.p99_ms):>9.2f}{max(result.rss_mb):>9.1f}"
            f"{result.errors:>8}  {verdict}"
        )
    print("(ratio: rps / baseline's rps; CPU ratio: baseline's CPU per request / this one's)")
    return ok


def startup(
    apps: Mapping[str, str],
    *,
    repeat: int = 7,
    env: Mapping[str, str] | None = None,
    preload: tuple[str, ...] = (),
) -> dict[str, tuple[float, float]]:
    """Median seconds to import and build each app (``module:factory``), and its RSS in MB.

    ``preload``: modules imported before the clock starts (their cost is left out).
    """
    imports = "".join(f"import {name}\n" for name in preload)
    code = (
        "import time, resource, importlib, json, sys\n"
        f"{imports}"
        "t = time.perf_counter()\n"
        "module, _, name = sys.argv[1].partition(':')\n"
        "getattr(importlib.import_module(module), name)()\n"
        "elapsed = time.perf_counter() - t\n"
        "print(json.dumps([elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))\n"
    )
    # Deployed code imports from cached bytecode: a first, unmeasured run of each app writes
    # it, whatever PYTHONDONTWRITEBYTECODE the calling shell sets (compiling from source would
    # count the compiler, not the code).
    run_env = clean_env(env or {})
    run_env.pop("PYTHONDONTWRITEBYTECODE", None)
    measured: dict[str, list[tuple[float, float]]] = {name: [] for name in apps}
    for round_number in range(repeat + 1):
        for name, target in apps.items():
            output = subprocess.run(
                [*pinned(SERVER_CORE), sys.executable, "-c", code, target],
                cwd=ROOT,
                env=run_env,
                check=True,
                capture_output=True,
                text=True,
            )
            seconds, rss = json.loads(output.stdout.strip().splitlines()[-1])
            if round_number:
                measured[name].append((seconds, rss))
    return {
        name: (statistics.median(s for s, _ in values), statistics.median(r for _, r in values))
        for name, values in measured.items()
    }
