"""The kernel's benchmark: bare ``connexion.FlaskApp`` against ``chassis.App`` with no plugins.

    make bench                          # or: .venv/bin/python bench/run.py [--duration 4 --rounds 3]

Targets (issue 2): requests per second at least 0.95 of bare Connexion's; import plus app
construction at most 1.15 of bare Connexion's; resident memory at most 10 MB above it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Scenario, report, run, startup

NO_PLUGINS = {"CHASSIS_PLUGINS": "", "CHASSIS_LOG_LEVEL": "WARNING"}


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
                Scenario("bare connexion", app="bench.apps:bare", path=path),
                Scenario("chassis, no plugins", env=NO_PLUGINS, path=path),
            ],
            duration=args.duration,
            rounds=args.rounds,
        )
        ok &= report(results, baseline="bare connexion", targets={"chassis, no plugins": 0.95})

    print("\n== start-up: import + app construction (median of 7), peak RSS")
    times = startup(
        {"bare": "bench.apps:bare", "chassis": "bench.apps:chassis_app"}, env=NO_PLUGINS
    )
    (bare_s, bare_mb), (ch_s, ch_mb) = times["bare"], times["chassis"]
    time_ratio, extra_mb = ch_s / bare_s, ch_mb - bare_mb
    print(f"bare connexion {bare_s * 1000:7.0f} ms {bare_mb:7.1f} MB")
    print(f"chassis        {ch_s * 1000:7.0f} ms {ch_mb:7.1f} MB")
    print(f"time ratio {time_ratio:.3f} (target <= 1.15); memory +{extra_mb:.1f} MB (target <= 10)")
    ok &= time_ratio <= 1.15 and extra_mb <= 10
    print("\nall targets met" if ok else "\nSOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
