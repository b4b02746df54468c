"""chassis.AsyncApp against bare connexion.AsyncApp, FastAPI and chassis.App.

    make bench-async BENCH_ARGS="--duration 4 --rounds 3"
    # or, once the bench group is installed (uv sync --all-packages --all-extras --group bench):
    .venv/bin/python bench/bench_async.py [--duration 4] [--rounds 3] [--items 10,100,1000]
        [--apps connexion-async,fastapi,...] [--json bench-async.json]

The same routes in every app (``bench.apps.async_spec``, ``bench/fastapi_apps.py``): an item,
``GET /items/1`` (~200 B), and a list, ``GET /items?limit=N`` for each N of ``--items``.
Apps (``--apps``, default all):

  connexion-async        bare connexion.AsyncApp, async def handlers
  fastapi                FastAPI, async def handlers, a pydantic response model
  fastapi-addons         FastAPI + OpenTelemetry (SDK, batch, OTLP/HTTP), Prometheus
                         instrumentator, brotli-asgi, asgi-correlation-id, a PyJWT bearer
                         dependency (RS256, JWKS cached)
  chassis-async          chassis.AsyncApp, no plugins                  (once it exists)
  chassis-async-plugins  chassis.AsyncApp, every plugin on             (once it exists)
  chassis-app-plugins    chassis.App, every plugin on (Flask views, sync handlers)

"Every plugin on" is tracing (SDK, batch export over OTLP/HTTP), metrics, the optimizer
(compression; its response cache off, and its memo of compressed bodies off unless
``--optimizer-memo``, so that every list response is compressed again as brotli-asgi does),
pagination (unused by these routes) and auth (a bearer JWT with scope items:read, from a
chassis_auth.testing.LocalIssuer in this process, as in bench_auth.py). Spans go to black-hole
OTLP receivers (bench_tracing.py's), one per app with tracing, on the load generator's core.
Every app gets the same request: ``Accept-Encoding: br`` (``--accept-encoding``) and the
bearer token, which apps without auth ignore.

Before the measured rounds, each app is checked: both routes answer the same JSON; and for the
apps with every feature on, the list route comes back compressed, ``/metrics`` counts the
requests, a request without a token gets 401, ``X-Request-ID`` is echoed, and spans reach
the receiver. A failed check stops the run: a comparison is only fair if both sides do the work.

The targets, all on ratios from the same run ("CPU": the server's CPU time per
request; x = how many times better the first app is), judged on the item route and the list
of 100 (other list sizes are shown for information):

  chassis.AsyncApp vs connexion.AsyncApp, no plugins   CPU and requests/s   >= 1.0
  chassis.AsyncApp vs FastAPI (pydantic), item route   CPU                  within 1.5x (>= 0.67)
  chassis.AsyncApp vs FastAPI + add-ons, every plugin  CPU                  >= 1.5
  chassis.AsyncApp vs chassis.App, every plugin        CPU                  >= 2.0

Exit status: 0 when every check passed, no request failed and every evaluated target was met.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gzip
import http.client
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.apps import EVERY_PLUGIN
from bench.harness import Result, Scenario, Server, run

COMMON = {"CHASSIS_LOG_LEVEL": "WARNING", "CHASSIS_SERVICE_NAME": "bench"}
BENCH_GROUP = (
    "fastapi",
    "opentelemetry.instrumentation.fastapi",
    "prometheus_fastapi_instrumentator",
    "brotli_asgi",
    "asgi_correlation_id",
)
INSTALL_HINT = (
    "the FastAPI peers need the benchmark-only dependency group: run `make bench-async`, or "
    "`.tools/bin/uv sync --all-packages --all-extras --group bench` first"
)
SPAN_WAIT = 15.0
"""Seconds to wait for a server's first exported spans (the batch processor's delay is 5 s)."""


@dataclass(frozen=True)
class App:
    key: str
    label: str
    target: str
    full: bool = False
    """Every feature on (tracing, metrics, compression, request ids, auth): checked as such."""
    fastapi: bool = False


APPS = {
    app.key: app
    for app in (
        App("connexion-async", "connexion.AsyncApp", "bench.apps:connexion_async"),
        App("fastapi", "FastAPI, pydantic model", "bench.fastapi_apps:fastapi_bare", fastapi=True),
        App(
            "fastapi-addons",
            "FastAPI + add-ons",
            "bench.fastapi_apps:fastapi_addons",
            full=True,
            fastapi=True,
        ),
        App("chassis-async", "chassis.AsyncApp", "bench.apps:chassis_async"),
        App(
            "chassis-async-plugins",
            "chassis.AsyncApp, every plugin",
            "bench.apps:chassis_async_plugins",
            full=True,
        ),
        App(
            "chassis-app-plugins",
            "chassis.App, every plugin",
            "bench.apps:chassis_plugins",
            full=True,
        ),
    )
}


@dataclass(frozen=True)
class Route:
    label: str
    path: str
    items: int | None
    """Items in the list; ``None`` for the item route."""

    @property
    def judged(self) -> bool:
        """The issue's two routes: the item and the list of 100; other sizes are information."""
        return self.items in (None, 100)


@dataclass(frozen=True)
class Ratio:
    """How many times better ``app`` is than ``other`` (CPU: less time; rps: more requests)."""

    name: str
    app: str
    other: str
    metric: str  # "cpu" or "rps"
    minimum: float | None
    """The target, or ``None`` for a ratio shown for information."""
    item_only: bool = False


RATIOS = (
    Ratio("chassis.AsyncApp / connexion.AsyncApp", "chassis-async", "connexion-async", "cpu", 1.0),
    Ratio("chassis.AsyncApp / connexion.AsyncApp", "chassis-async", "connexion-async", "rps", 1.0),
    Ratio(
        "chassis.AsyncApp / FastAPI, pydantic model (within 1.5x)",
        "chassis-async",
        "fastapi",
        "cpu",
        1 / 1.5,
        item_only=True,
    ),
    Ratio(
        "every plugin: chassis.AsyncApp / FastAPI + add-ons",
        "chassis-async-plugins",
        "fastapi-addons",
        "cpu",
        1.5,
    ),
    Ratio(
        "every plugin: chassis.AsyncApp / chassis.App",
        "chassis-async-plugins",
        "chassis-app-plugins",
        "cpu",
        2.0,
    ),
    Ratio(
        "every plugin: chassis.AsyncApp / chassis.App",
        "chassis-async-plugins",
        "chassis-app-plugins",
        "rps",
        None,
    ),
    # For information, today: where the apps that exist stand.
    Ratio(
        "every plugin: chassis.App / FastAPI + add-ons",
        "chassis-app-plugins",
        "fastapi-addons",
        "cpu",
        None,
    ),
    Ratio(
        "connexion.AsyncApp / FastAPI, pydantic model", "connexion-async", "fastapi", "cpu", None
    ),
    Ratio("FastAPI + add-ons / FastAPI, pydantic model", "fastapi-addons", "fastapi", "cpu", None),
)


class CheckFailed(RuntimeError):
    pass


# -- checks ---------------------------------------------------------------------------------


def _get(port: int, path: str, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=dict(headers))
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


def _decode(headers: Mapping[str, str], body: bytes) -> bytes:
    coding = headers.get("content-encoding", "identity").strip().lower()
    if coding == "br":
        import brotli

        return bytes(brotli.decompress(body))
    if coding == "gzip":
        return gzip.decompress(body)
    if coding == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(body)
    if coding in ("", "identity"):
        return body
    raise CheckFailed(f"unknown Content-Encoding {coding!r}")


def _receiver_exports(url: str) -> int:
    return int(json.loads(urllib.request.urlopen(url, timeout=5).read())["exports"])


@dataclass
class Checker:
    """Asserts, per route group, that every app serves the same data and that the apps with
    every feature on really do each thing they are compared for."""

    apps: Mapping[str, App]
    """By scenario label."""
    routes: list[Route]
    headers: Mapping[str, str]
    receivers: Mapping[str, str]
    """OTLP receiver URL by app key."""
    wire_bytes: dict[str, dict[str, int]] = field(default_factory=dict)
    """Bytes of each response body as sent under load, by route label and app label."""
    passed: list[str] = field(default_factory=list)

    def for_route(self, route: Route) -> Callable[[Mapping[str, Server]], None]:
        def check(servers: Mapping[str, Server]) -> None:
            before = {key: _receiver_exports(url) for key, url in self.receivers.items()}
            for label, server in servers.items():
                app = self.apps[label]
                self._same_data(app, server.port, route)
                if app.full:
                    self._features(app, server.port)
            self._spans(route, servers, before)

        return check

    def _same_data(self, app: App, port: int, route: Route) -> None:
        from bench.handlers import ITEMS, _item

        for path, expected in (("/items/7", _item(7)), *self._lists(ITEMS)):
            status, headers, body = _get(port, path, self.headers)
            if status != 200:
                raise CheckFailed(f"{app.label}: GET {path} answered {status}: {body[:200]!r}")
            if json.loads(_decode(headers, body)) != expected:
                raise CheckFailed(f"{app.label}: GET {path} did not return the expected JSON")
        status, headers, body = _get(port, route.path, self.headers)
        self.wire_bytes.setdefault(route.label, {})[app.label] = len(body)

    def _lists(self, items: list[dict[str, Any]]) -> Iterator[tuple[str, Any]]:
        for route in self.routes:
            if route.items is not None:
                yield route.path, items[: route.items]

    def _features(self, app: App, port: int) -> None:
        plain = {k: v for k, v in self.headers.items() if k.lower() != "accept-encoding"}
        # Compression of the list route (brotli on both sides: same codec, same level 4).
        status, headers, _ = _get(port, "/items?limit=100", {**plain, "Accept-Encoding": "br"})
        if status != 200 or headers.get("content-encoding") != "br":
            raise CheckFailed(
                f"{app.label}: the list route is not brotli-compressed "
                f"(status {status}, Content-Encoding {headers.get('content-encoding')!r})"
            )
        # Auth: no token, 401.
        no_token = {k: v for k, v in plain.items() if k.lower() != "authorization"}
        status, _, _ = _get(port, "/items/1", no_token)
        if status != 401:
            raise CheckFailed(f"{app.label}: a request without a token answered {status}, not 401")
        # Request ids: a valid incoming id is echoed, and one is made when none comes.
        request_id = uuid.uuid4().hex
        _, headers, _ = _get(port, "/items/1", {**plain, "X-Request-ID": request_id})
        if headers.get("x-request-id") != request_id:
            raise CheckFailed(
                f"{app.label}: X-Request-ID {request_id} came back as "
                f"{headers.get('x-request-id')!r}"
            )
        _, headers, _ = _get(port, "/items/1", plain)
        if not headers.get("x-request-id"):
            raise CheckFailed(f"{app.label}: no X-Request-ID made for a request without one")
        # Metrics: /metrics counts the requests of the item route.
        status, headers, body = _get(port, "/metrics", {"Accept-Encoding": "identity"})
        text = _decode(headers, body).decode()
        counted = [
            float(match.group(1))
            for match in re.finditer(
                r"^http_requests_total\{[^}]*/items/\{item_id\}[^}]*\} ([0-9.e+]+)$",
                text,
                re.MULTILINE,
            )
        ]
        if status != 200 or not sum(counted):
            raise CheckFailed(
                f"{app.label}: /metrics (status {status}) has no http_requests_total for "
                "/items/{item_id}"
            )
        self.passed.append(app.label)

    def _spans(
        self, route: Route, servers: Mapping[str, Server], before: Mapping[str, int]
    ) -> None:
        waiting = {
            self.apps[label].key for label in servers if self.apps[label].key in self.receivers
        }
        deadline = time.monotonic() + SPAN_WAIT
        while waiting:
            for key in list(waiting):
                if _receiver_exports(self.receivers[key]) > before[key]:
                    waiting.discard(key)
            if not waiting:
                break
            if time.monotonic() > deadline:
                names = ", ".join(APPS[key].label for key in sorted(waiting))
                raise CheckFailed(f"{route.label}: no span export from {names} in {SPAN_WAIT} s")
            time.sleep(0.25)


# -- set-up ---------------------------------------------------------------------------------


def _parse_items(value: str) -> list[int]:
    sizes = [int(part) for part in value.split(",") if part.strip()]
    if not sizes or any(not 1 <= size <= 1000 for size in sizes):
        raise argparse.ArgumentTypeError("list sizes are integers from 1 to 1000")
    return sizes


def _parse_apps(value: str) -> list[str]:
    keys = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [key for key in keys if key not in APPS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown app(s) {', '.join(unknown)}; choose from {', '.join(APPS)}"
        )
    return keys


@contextlib.contextmanager
def _receivers(keys: list[str]) -> Iterator[dict[str, str]]:
    """One black-hole OTLP receiver (bench_tracing.py's) per app with tracing."""
    from bench.bench_tracing import start_receiver

    started: list[subprocess.Popen[bytes]] = []
    urls: dict[str, str] = {}
    try:
        for key in keys:
            process, url = start_receiver()
            started.append(process)
            urls[key] = url
        yield urls
    finally:
        for process in started:
            process.terminate()
            process.wait(timeout=10)


def _environments(
    apps: list[App], issuer: Any, receivers: Mapping[str, str], plugins: str, memo: bool
) -> dict[str, dict[str, str]]:
    envs: dict[str, dict[str, str]] = {}
    for app in apps:
        if app.fastapi:
            env = {}
            if app.full:
                env = {
                    "BENCH_OTLP_ENDPOINT": receivers[app.key],
                    "BENCH_AUTH_JWKS_URL": issuer.jwks_url,
                    "BENCH_AUTH_ISSUER": issuer.issuer,
                    "BENCH_AUTH_AUDIENCE": issuer.audience,
                }
        elif app.full:
            env = {
                **COMMON,
                "CHASSIS_PLUGINS": plugins,
                "CHASSIS_TRACING__EXPORTER": "otlp",
                "CHASSIS_TRACING__ENDPOINT": receivers[app.key],
                "CHASSIS_OPTIMIZER__CACHE_ENABLED": "false",
                "CHASSIS_AUTH__ISSUER": issuer.issuer,
                "CHASSIS_AUTH__AUDIENCE": issuer.audience,
                # The list route's `limit` goes to 1,000 (and defaults to 100) in the spec;
                # pagination, which reads every operation taking a `limit`, is told the same.
                "CHASSIS_PAGINATION__MAX_LIMIT": "1000",
                "CHASSIS_PAGINATION__DEFAULT_LIMIT": "100",
            }
            if not memo:
                env["CHASSIS_OPTIMIZER__COMPRESS_MEMO_BYTES"] = "0"
        else:
            env = {**COMMON, "CHASSIS_PLUGINS": ""}
        envs[app.key] = env
    return envs


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


def _versions() -> dict[str, str]:
    versions = {}
    for name in (
        "chassis-core",
        "connexion",
        "starlette",
        "uvicorn",
        "fastapi",
        "pydantic",
        "opentelemetry-sdk",
        "opentelemetry-instrumentation-fastapi",
        "prometheus-fastapi-instrumentator",
        "brotli-asgi",
        "asgi-correlation-id",
        "pyjwt",
    ):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return versions


# -- report ---------------------------------------------------------------------------------


def _summary(
    routes: list[Route], apps: list[App], results: Mapping[str, Mapping[str, Result]]
) -> None:
    def table(title: str, columns: tuple[str, str], cell: Callable[[Result], str]) -> None:
        print(f"\n== {title} (medians over rounds)")
        print(f"{'':<32}" + "".join(f"{route.label:>20}" for route in routes))
        print(f"{'app':<32}" + f"{columns[0]:>10}{columns[1]:>10}" * len(routes))
        for app in apps:
            print(
                f"{app.label:<32}"
                + "".join(cell(results[route.label][app.label]) for route in routes)
            )

    table(
        "server CPU time per request and requests per second",
        ("CPU µs", "rps"),
        lambda r: f"{r.median_cpu_us:>10.0f}{r.median_rps:>10.0f}",
    )
    table(
        "latency, ms",
        ("p50", "p99"),
        lambda r: f"{statistics.median(r.p50_ms):>10.2f}{statistics.median(r.p99_ms):>10.2f}",
    )


def _ratios(
    routes: list[Route], present: set[str], results: Mapping[str, Mapping[str, Result]]
) -> tuple[list[dict[str, Any]], bool]:
    rows: list[dict[str, Any]] = []
    ok = True
    print("\n== ratios (same run): x = how many times better the first app is")
    print(f"{'ratio':<58}{'metric':<8}{'route':<18}{'x':>7}  target")
    for ratio in RATIOS:
        if ratio.app not in present or ratio.other not in present:
            if ratio.minimum is not None:
                missing = [APPS[k].label for k in (ratio.app, ratio.other) if k not in present]
                print(
                    f"{ratio.name:<58}{ratio.metric:<8}{'-':<18}{'-':>7}  "
                    f">= {ratio.minimum:.2f} NOT EVALUATED ({', '.join(missing)} not run)"
                )
                rows.append(
                    {
                        "name": ratio.name,
                        "metric": ratio.metric,
                        "target": ratio.minimum,
                        "evaluated": False,
                        "missing": missing,
                    }
                )
            continue
        for route in routes:
            if ratio.item_only and route.items is not None:
                continue
            mine = results[route.label][APPS[ratio.app].label]
            other = results[route.label][APPS[ratio.other].label]
            if ratio.metric == "cpu":
                value = other.median_cpu_us / mine.median_cpu_us
            else:
                value = mine.median_rps / other.median_rps
            judged = ratio.minimum is not None and route.judged
            verdict = ""
            met = None
            if judged:
                assert ratio.minimum is not None
                met = value >= ratio.minimum
                ok &= met
                verdict = f">= {ratio.minimum:.2f} {'met' if met else 'MISSED'}"
            elif ratio.minimum is not None:
                verdict = "(information)"
            print(f"{ratio.name:<58}{ratio.metric:<8}{route.label:<18}{value:>7.2f}  {verdict}")
            rows.append(
                {
                    "name": ratio.name,
                    "app": APPS[ratio.app].label,
                    "other": APPS[ratio.other].label,
                    "metric": ratio.metric,
                    "route": route.label,
                    "value": round(value, 3),
                    "target": ratio.minimum if judged else None,
                    "met": met,
                    "evaluated": True,
                }
            )
    return rows, ok


def _result_json(result: Result) -> dict[str, Any]:
    return {
        "rps": round(result.median_rps, 1),
        "cpu_us": round(result.median_cpu_us, 1),
        "p50_ms": round(statistics.median(result.p50_ms), 3),
        "p99_ms": round(statistics.median(result.p99_ms), 3),
        "rss_mb": round(max(result.rss_mb), 1),
        "errors": result.errors,
        "statuses": {str(k): v for k, v in result.statuses.items()},
        "rounds": {
            "rps": [round(v, 1) for v in result.rps],
            "cpu_us": [round(v, 1) for v in result.cpu_us],
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per load (4)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up (1)")
    parser.add_argument(
        "--items", type=_parse_items, default=[10, 100, 1000], help="list sizes (10,100,1000)"
    )
    parser.add_argument("--apps", type=_parse_apps, default=list(APPS), help="comma-separated")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--accept-encoding", default="br", help="sent with every request (br)")
    parser.add_argument(
        "--optimizer-memo",
        action="store_true",
        help="keep the optimizer's memo of compressed bodies on (off: compress every response)",
    )
    parser.add_argument(
        "--chassis-plugins",
        default=EVERY_PLUGIN,
        help=f"CHASSIS_PLUGINS of the apps with every plugin on ({EVERY_PLUGIN}); the "
        "start-up checks expect tracing, metrics, optimizer and auth among them",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()

    keys = list(dict.fromkeys(args.apps))
    if any(APPS[key].fastapi for key in keys):
        missing = [name for name in BENCH_GROUP if not _installed(name)]
        if missing:
            print(f"missing {', '.join(missing)}: {INSTALL_HINT}", file=sys.stderr)
            return 2
    if not keys:
        print("no app to run", file=sys.stderr)
        return 2
    apps = [APPS[key] for key in keys]
    present = set(keys)
    routes = [Route("item ~200 B", "/items/1", None)] + [
        Route(f"list of {n}", f"/items?limit={n}", n) for n in args.items
    ]

    from chassis_auth.testing import LocalIssuer

    results: dict[str, dict[str, Result]] = {}
    ok = True
    measured = datetime.datetime.now(datetime.timezone.utc)
    load_before = os.getloadavg()
    with LocalIssuer() as issuer, _receivers([a.key for a in apps if a.full]) as receivers:
        token = issuer.token(["items:read"], expires_in=24 * 3600)
        headers = {"Authorization": f"Bearer {token}"}
        if args.accept_encoding:
            headers["Accept-Encoding"] = args.accept_encoding
        envs = _environments(apps, issuer, receivers, args.chassis_plugins, args.optimizer_memo)
        checker = Checker({a.label: a for a in apps}, routes, headers, receivers)
        for route in routes:
            print(f"\n== {route.label}: GET {route.path}", flush=True)
            group = run(
                [
                    Scenario(
                        app.label,
                        app=app.target,
                        env=envs[app.key],
                        path=route.path,
                        headers=headers,
                        connections=args.connections,
                    )
                    for app in apps
                ],
                duration=args.duration,
                rounds=args.rounds,
                warmup=args.warmup,
                check=checker.for_route(route),
            )
            results[route.label] = group
            for result in group.values():
                unexpected = {s: n for s, n in result.statuses.items() if str(s) != "200"}
                if result.errors or unexpected:
                    print(
                        f"{result.scenario.name}: {result.errors} errors, "
                        f"unexpected statuses {unexpected}"
                    )
                    ok = False
        exports = {APPS[key].label: _receiver_exports(url) for key, url in receivers.items()}
        jwks_fetches = issuer.fetches

    print(
        "\nchecks passed: every app answers both routes with the same JSON"
        + (
            f"; tracing, metrics, compression, request ids and auth on in "
            f"{', '.join(sorted(set(checker.passed)))}"
            if checker.passed
            else ""
        )
    )
    print(f"OTLP exports received: {exports}")
    print(f"JWKS fetches from the local issuer, whole run: {jwks_fetches}")
    print(f"\n== response body on the wire, bytes (Accept-Encoding: {args.accept_encoding})")
    for route in routes:
        sizes = checker.wire_bytes.get(route.label, {})
        print(f"{route.label:<18}" + "  ".join(f"{label}: {size}" for label, size in sizes.items()))

    _summary(routes, apps, results)
    ratios, met = _ratios(routes, present, results)
    ok &= met
    print("\nall evaluated targets met" if ok else "\nSOME TARGETS MISSED OR REQUESTS FAILED")

    if args.json:
        document = {
            "measured": measured.isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "load_before": [round(v, 2) for v in load_before],
                "load_after": [round(v, 2) for v in os.getloadavg()],
                "python": platform.python_version(),
            },
            "versions": _versions(),
            "args": {
                "duration": args.duration,
                "rounds": args.rounds,
                "items": args.items,
                "connections": args.connections,
                "accept_encoding": args.accept_encoding,
                "optimizer_memo": args.optimizer_memo,
            },
            "apps": {app.label: app.target for app in apps},
            "wire_bytes": checker.wire_bytes,
            "routes": {
                route.label: {
                    label: _result_json(result) for label, result in results[route.label].items()
                }
                for route in routes
            },
            "ratios": ratios,
            "otlp_exports": exports,
            "jwks_fetches": jwks_fetches,
            "ok": ok,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
