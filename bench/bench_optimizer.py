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
"""

from __future__ import annotations

import argparse
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
    "CHASSIS_DIRECTMAIL__DATABASE_URL": DATABASE,
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
    from directmail.db import connect

    connect(DATABASE, 500).dispose()


def _sizes() -> dict[str, dict[str, int]]:
    """Bytes of the response for each Accept-Encoding, from each app (in this process)."""
    from directmail.service import create_app
    from flask_compress import Compress

    common = {"log_level": "WARNING", "directmail": {"database_url": DATABASE}}
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
        settings={"plugins": [], "log_level": "WARNING", "directmail": {"database_url": DATABASE}}
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


def _scenario(name: str, env: dict[str, str], accept: str, app: str) -> Scenario:
    return Scenario(name, app=app, env=env, path=PATH, headers={"Accept-Encoding": accept})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--levels", action="store_true", help="print the level survey too")
    args = parser.parse_args()
    _seed()
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
