"""Where chassis's start-up time and memory go, step by step after ``import connexion``.

Each run is a fresh interpreter (pinned like the other benchmarks) that imports Connexion,
then each of chassis's dependencies in turn, then chassis, then builds the benchmark app,
printing the time and resident-memory growth of every step; the table shows medians.
A step's cost excludes what earlier steps already loaded.

    .venv/bin/python bench/startup_breakdown.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import SERVER_CORE, clean_env, pinned  # noqa: E402

STEPS = ("connexion", "pydantic_core", "pydantic", "pydantic_settings", "pluggy", "chassis")

_PROBE = """
import importlib, json, sys, time
def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
rows, last = [], (time.perf_counter(), rss_mb())
def step(name):
    global last
    now = (time.perf_counter(), rss_mb())
    rows.append((name, now[0] - last[0], now[1] - last[1]))
    last = now
for module in sys.argv[1:]:
    # pydantic's package is lazy: BaseModel is what loads it.
    getattr(importlib.import_module(module), "BaseModel", None)
    step(module)
from bench.apps import chassis_app
chassis_app()
step("App() + add_api")
print(json.dumps(rows))
"""


def measure(repeat: int) -> list[tuple[str, float, float]]:
    runs = []
    for _ in range(repeat):
        output = subprocess.run(
            [*pinned(SERVER_CORE), sys.executable, "-c", _PROBE, *STEPS],
            cwd=ROOT,
            env=clean_env({"CHASSIS_PLUGINS": "", "CHASSIS_LOG_LEVEL": "WARNING"}),
            check=True,
            capture_output=True,
            text=True,
        )
        runs.append(json.loads(output.stdout.strip().splitlines()[-1]))
    return [
        (
            runs[0][index][0],
            statistics.median(run[index][1] for run in runs),
            statistics.median(run[index][2] for run in runs),
        )
        for index in range(len(runs[0]))
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rows = measure(args.repeat)
    base_ms = rows[0][1] * 1000
    print(f"{'step':<22}{'ms':>8}{'MB':>8}{'share of connexion':>20}")
    for name, seconds, megabytes in rows:
        share = "" if name == "connexion" else f"{seconds * 1000 / base_ms:>19.1%}"
        print(f"{name:<22}{seconds * 1000:>8.1f}{megabytes:>+8.1f}{share}")
    extra_ms = sum(seconds for _, seconds, _ in rows[1:]) * 1000
    extra_mb = sum(megabytes for _, _, megabytes in rows[1:])
    print(f"{'chassis in all':<22}{extra_ms:>8.1f}{extra_mb:>+8.1f}{extra_ms / base_ms:>19.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
