"""The cost of exemplars: tracing and metrics on, exemplars off vs on, in one run.

    .venv/bin/python bench/bench_observability.py [--duration 3 --rounds 3]

Target (issue 17): with exemplars on, at least 0.97 of the requests per second (and of the
CPU per request) with them off. Both apps run the tracing plugin with every request sampled
and nothing exported (`exporter = none`), so each request has a span whose ids the metrics
layer can attach; the difference between the two is only the exemplar: reading the current
span, formatting its ids, and prometheus_client's validation and storage per observation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Scenario, report, run

COMMON = {
    "CHASSIS_LOG_LEVEL": "WARNING",
    "CHASSIS_PLUGINS": "tracing,metrics",
    "CHASSIS_TRACING__EXPORTER": "none",
}
OFF = {**COMMON, "CHASSIS_METRICS__EXEMPLARS": "false"}
ON = {**COMMON, "CHASSIS_METRICS__EXEMPLARS": "true"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    print("\n== item ~210 B: GET /items/1, tracing (no export) + metrics")
    results = run(
        [
            Scenario("exemplars off", env=OFF, path="/items/1"),
            Scenario("exemplars on", env=ON, path="/items/1"),
        ],
        duration=args.duration,
        rounds=args.rounds,
    )
    ok = report(results, baseline="exemplars off", targets={"exemplars on": 0.97})
    print("\nall targets met" if ok else "\nSOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
