"""chassis-idempotency's cost per POST, against the same app without the plugin, in one run.

    .venv/bin/python bench/bench_idempotency.py [--requests 500 --rounds 5]
        [--app-class App|AsyncApp|both] [--no-redis]

In process, no HTTP: each app (a POST operation with a JSON body, answering 201 with ~60
bytes) is called as ASGI directly, its lifespan started, so what is timed is the request path
and the handler, not a client or a socket. Scenarios, interleaved and rotated over rounds:

* ``no plugin``: the baseline (the request carries an Idempotency-Key, which nobody reads);
* ``plugin, no key``: the plugin loaded, the request without a key (what most requests pay);
* ``new key, memory`` / ``new key, Redis``: a new key per request (the handler runs; the
  response is buffered and stored, the key released): the price of protection;
* ``replay, memory`` / ``replay, Redis``: the same key every time (the stored response is
  sent, the handler does not run).

Per scenario: the median over rounds of process CPU time per request (every thread of the
process: Flask views run in a thread pool), wall time per request, and both as a ratio to
``no plugin`` and as microseconds added. Redis is the real one (``CHASSIS_TEST_REDIS_URL``,
default ``redis://127.0.0.1:6379/0``), its keys under a prefix of the run's own, deleted after.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REDIS_URL = os.environ.get("CHASSIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BODY = b'{"item": "widget", "quantity": 3}'

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "bench idempotency", "version": "1"},
    "paths": {
        "/orders": {
            "post": {
                "operationId": "bench.bench_idempotency.create_order",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {"201": {"description": "created"}},
            }
        }
    },
}

_counter = 0


def create_order(body: dict[str, Any]) -> Any:
    global _counter
    _counter += 1
    return {"id": _counter, **body}, 201


@dataclass
class Scenario:
    name: str
    plugin: dict[str, Any] | None
    """The idempotency settings, or ``None`` for no plugin."""
    key: Callable[[int], str] | None
    """The key of request ``n``, or ``None`` for none."""
    app: Any = None
    cpu_us: list[float] = field(default_factory=list)
    wall_us: list[float] = field(default_factory=list)


def build(app_class: Any, plugin: dict[str, Any] | None) -> Any:
    import chassis_idempotency

    settings: dict[str, Any] = {"plugins": [], "log_level": "WARNING"}
    plugins: dict[str, Any] = {}
    if plugin is not None:
        settings["idempotency"] = plugin
        plugins["idempotency"] = chassis_idempotency
    app = app_class("bench_idempotency", settings=settings, plugins=plugins)
    app.add_api(SPEC)
    return app


class Driver:
    """Calls an ASGI app directly: its lifespan, then requests."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        started = asyncio.Event()
        stopped = asyncio.Event()
        self.stopped = stopped

        async def receive() -> dict[str, Any]:
            return await self.events.get()

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "lifespan.startup.complete":
                started.set()
            elif message["type"] == "lifespan.startup.failed":
                raise RuntimeError(message.get("message"))
            elif message["type"].startswith("lifespan.shutdown"):
                stopped.set()

        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.create_task(self.app(scope, receive, send))
        await self.events.put({"type": "lifespan.startup"})
        await asyncio.wait_for(started.wait(), 30)

    async def stop(self) -> None:
        await self.events.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(self.stopped.wait(), 30)
        if self.task is not None:
            await self.task

    async def post(self, key: str | None) -> int:
        headers = [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
        ]
        if key is not None:
            headers.append((b"idempotency-key", key.encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/orders",
            "raw_path": b"/orders",
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("bench", 80),
            "state": {},
        }
        sent = False
        status = 0

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": BODY, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await self.app(scope, receive, send)
        return status


async def measure(scenario: Scenario, driver: Driver, requests: int, offset: int) -> None:
    keys = [scenario.key(offset + n) if scenario.key else None for n in range(requests)]
    cpu, wall = time.process_time(), time.perf_counter()
    for key in keys:
        status = await driver.post(key)
        if status != 201:
            raise RuntimeError(f"{scenario.name}: status {status}")
    scenario.cpu_us.append((time.process_time() - cpu) / requests * 1e6)
    scenario.wall_us.append((time.perf_counter() - wall) / requests * 1e6)


async def bench(app_class: Any, args: argparse.Namespace, prefix: str) -> None:
    run = uuid.uuid4().hex[:8]
    scenarios = [
        Scenario("no plugin", None, lambda n: "k"),
        Scenario("plugin, no key", {}, None),
        Scenario("new key, memory", {}, lambda n: f"{run}-{n}"),
        Scenario("replay, memory", {}, lambda n: "same"),
    ]
    if args.redis:
        redis = {"store_url": REDIS_URL, "key_prefix": prefix, "ttl": "5m"}
        scenarios += [
            Scenario("new key, Redis", redis, lambda n: f"{run}-{n}"),
            Scenario("replay, Redis", redis, lambda n: "same"),
        ]
    drivers = []
    for scenario in scenarios:
        scenario.app = build(app_class, scenario.plugin)
        driver = Driver(scenario.app)
        await driver.start()
        drivers.append(driver)
        await measure(scenario, driver, 200, 10**9)  # warm-up (and the stored replay)
        scenario.cpu_us.clear()
        scenario.wall_us.clear()
    try:
        for round_number in range(args.rounds):
            shift = round_number % len(scenarios)
            order = list(range(len(scenarios)))[shift:] + list(range(len(scenarios)))[:shift]
            for index in order:
                await measure(
                    scenarios[index], drivers[index], args.requests, round_number * args.requests
                )
    finally:
        for driver in drivers:
            await driver.stop()
    base_cpu = statistics.median(scenarios[0].cpu_us)
    base_wall = statistics.median(scenarios[0].wall_us)
    print(f"\n== {app_class.__name__}: POST /orders, {args.rounds} rounds x {args.requests}")
    print(
        f"{'scenario':<18} {'CPU/req':>9} {'vs none':>8} {'added':>9} "
        f"{'wall/req':>9} {'vs none':>8} {'spread':>7}"
    )
    for scenario in scenarios:
        cpu = statistics.median(scenario.cpu_us)
        wall = statistics.median(scenario.wall_us)
        spread = (max(scenario.cpu_us) - min(scenario.cpu_us)) / cpu if cpu else 0.0
        print(
            f"{scenario.name:<18} {cpu:>7.0f}µs {cpu / base_cpu:>7.2f}x {cpu - base_cpu:>+7.0f}µs "
            f"{wall:>7.0f}µs {wall / base_wall:>7.2f}x {spread:>6.0%}"
        )


def clean(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    finally:
        client.close()


def redis_reachable() -> bool:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def main() -> int:
    import chassis

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--app-class", choices=["App", "AsyncApp", "both"], default="both")
    parser.add_argument("--no-redis", dest="redis", action="store_false")
    args = parser.parse_args()
    print("command:", shlex.join([".venv/bin/python", "bench/bench_idempotency.py", *sys.argv[1:]]))
    print(f"load average: {os.getloadavg()[0]:.1f}")
    os.environ["CHASSIS_ENV_FILE"] = ""
    for name in [name for name in os.environ if name.startswith("CHASSIS_")]:
        if name != "CHASSIS_ENV_FILE":
            del os.environ[name]
    logging.disable(logging.WARNING)
    if args.redis and not redis_reachable():
        print(f"Redis is not reachable at {REDIS_URL}: run with --no-redis", file=sys.stderr)
        return 2
    classes = [chassis.App, getattr(chassis, "AsyncApp", None)]
    if args.app_class != "both":
        classes = [getattr(chassis, args.app_class)]
    prefix = f"bench:chassis-idempotency:{uuid.uuid4().hex}:"
    try:
        for app_class in classes:
            if app_class is not None:
                asyncio.run(bench(app_class, args, prefix))
    finally:
        if args.redis:
            clean(prefix)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
    sys.exit(main())
