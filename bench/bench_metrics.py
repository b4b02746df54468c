"""The metrics plugin's cost: the chassis app without and with chassis-metrics, in one run.

    .venv/bin/python bench/bench_metrics.py [--duration 4 --rounds 3]

Target (issue 4): with the plugin, at least 0.95 of the requests per second without it.
Both servers run side by side, loaded in interleaved rounds (see bench/harness.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Scenario, report, run

COMMON = {"CHASSIS_LOG_LEVEL": "WARNING"}
WITHOUT = {**COMMON, "CHASSIS_PLUGINS": ""}
WITH = {**COMMON, "CHASSIS_PLUGINS": "metrics"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    ok = True
    for label, path in (("item ~210 B", "/items/1"), ("list of 100, ~10 KB", "/items")):
        print(f"\n== {label}: GET {path}")
        results = run(
            [
                Scenario("chassis, no plugins", env=WITHOUT, path=path),
                Scenario("chassis + metrics", env=WITH, path=path),
            ],
            duration=args.duration,
            rounds=args.rounds,
        )
        ok &= report(results, baseline="chassis, no plugins", targets={"chassis + metrics": 0.95})
    print("\nall targets met" if ok else "\nSOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
