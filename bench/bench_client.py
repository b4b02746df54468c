"""chassis-client against a bare ``httpx.Client``: client-side CPU per call, same run.

A downstream server (uvicorn, a tiny ASGI app answering ~60 bytes of JSON) runs in its own
process pinned to one core; this process, pinned to the other, makes ``--calls`` GET requests
per round through each client in interleaved, rotated rounds, and reads its own CPU time
(``time.process_time``) around each round. The figure is CPU per call of *this* process: the
client's cost, not the server's. Both clients have the same base URL, timeouts and pool.

Variants:

* ``httpx``: a bare ``httpx.Client``;
* ``chassis_client``: ``chassis_client.client("bench")`` of a started app (no metrics);
* ``chassis_client+metrics``: the same with the metrics plugin on (counters, histogram);
* with ``--in-request``, each call is made inside a request context (request id to
  propagate): the bare client then sends ``chassis.outgoing_headers()`` by hand, as services
  do today, and chassis_client adds them itself;
* with ``--in-process``, no server: both clients answer from an ``httpx.MockTransport`` (the
  plugin's through the testing kit's stub), so the difference is the plugin's own cost per
  call in microseconds, without the network's noise.

Target (issue 15): chassis_client costs at most 10 % more CPU per call than bare httpx.

    .venv/bin/python bench/bench_client.py [--calls 500] [--rounds 7] [--in-request]
                                           [--in-process]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

SERVER = textwrap.dedent(
    """
    import sys, uvicorn

    BODY = b'{"id": 1, "name": "premises", "postcode": "SN1 1AA", "ok": true}'
    HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": BODY})

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False, lifespan="off")
    """
)


ANSWER_HEADERS = {"content-type": "application/json"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def downstream(core: int | None) -> Iterator[str]:
    port = _free_port()
    command = [sys.executable, "-c", SERVER, str(port)]
    if core is not None and _has_taskset():
        command = ["taskset", "-c", str(core), *command]
    process = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the downstream server did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _has_taskset() -> bool:
    return subprocess.run(["which", "taskset"], capture_output=True, check=False).returncode == 0


def _settings(url: str) -> dict[str, Any]:
    return {
        "plugins": [],
        "log_level": "WARNING",
        "client": {"services": {"bench": {"base_url": url}}},
    }


@contextlib.contextmanager
def chassis_clients(url: str, metrics: bool) -> Iterator[httpx.Client]:
    """``chassis_client.client("bench")`` of a started app (its lifespan running)."""
    import chassis
    import chassis_client

    for name in list(os.environ):
        if name.startswith("CHASSIS_"):
            del os.environ[name]
    os.environ["CHASSIS_ENV_FILE"] = ""
    plugins: dict[str, Any] = {"client": chassis_client}
    if metrics:
        import chassis_metrics

        plugins["metrics"] = chassis_metrics
    app = chassis.App("bench_client", settings=_settings(url), plugins=plugins)
    with app.test_client():
        yield chassis_client.client("bench", app=app)


@contextlib.contextmanager
def in_request(app: Any) -> Iterator[None]:
    """A request context as the kernel sets one for each request (request id to propagate)."""
    import chassis
    from chassis._context import reset_context, set_context

    context = chassis.RequestContext(
        "3f2c9a7e5b1d4c6a8e0f2b4d6c8a0e1f", {"type": "http", "extensions": {}}, app
    )
    token = set_context(context)
    try:
        yield
    finally:
        reset_context(token)


def _round(call: Callable[[], Any], calls: int) -> tuple[float, float]:
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        call()
    return (time.process_time() - cpu) / calls, (time.perf_counter() - wall) / calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500, help="calls per round and client")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--in-request", action="store_true", help="calls inside a request")
    parser.add_argument("--in-process", action="store_true", help="no server: a mock transport")
    args = parser.parse_args()
    calls = args.calls * (8 if args.in_process else 1)

    pinned = hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2
    if pinned:
        os.sched_setaffinity(0, {0})
    with contextlib.ExitStack() as stack:
        import chassis

        options: dict[str, Any] = {}
        if args.in_process:
            from chassis_client.testing import stubbed

            url = "http://bench.stub"
            answer = b'{"id": 1, "name": "premises", "postcode": "SN1 1AA", "ok": true}'

            def handler(request: httpx.Request) -> httpx.Response:
                return httpx.Response(200, content=answer, headers=ANSWER_HEADERS)

            stack.enter_context(stubbed("bench", handler=handler))
            options["transport"] = httpx.MockTransport(handler)
        else:
            url = stack.enter_context(downstream(1 if pinned else None))
            options["limits"] = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        bare = stack.enter_context(
            httpx.Client(
                base_url=url,
                timeout=httpx.Timeout(connect=2.0, read=10.0, write=10.0, pool=2.0),
                **options,
            )
        )
        plain = stack.enter_context(chassis_clients(url, metrics=False))
        metered = stack.enter_context(chassis_clients(url, metrics=True))
        app = chassis.App("bench_client_context", settings={"plugins": []})
        if args.in_request:
            stack.enter_context(in_request(app))

            def bare_call() -> Any:
                return bare.get("/premises/1", headers=chassis.outgoing_headers()).json()

        else:

            def bare_call() -> Any:
                return bare.get("/premises/1").json()

        variants: dict[str, Callable[[], Any]] = {
            "httpx": bare_call,
            "chassis_client": lambda: plain.get("/premises/1").json(),
            "chassis_client+metrics": lambda: metered.get("/premises/1").json(),
        }
        for call in variants.values():  # warm-up: connections, caches
            for _ in range(200):
                call()
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        wall: dict[str, list[float]] = {name: [] for name in variants}
        names = list(variants)
        for number in range(args.rounds):
            rotated = names[number % len(names) :] + names[: number % len(names)]
            for name in rotated:
                per_cpu, per_wall = _round(variants[name], calls)
                cpu[name].append(per_cpu)
                wall[name].append(per_wall)

    where = "inside a request" if args.in_request else "outside a request"
    where += ", in-process transport" if args.in_process else ", local server"
    print(f"{args.rounds} rounds x {calls} calls, {where}; load {os.getloadavg()[0]:.2f}")
    print(f"{'client':<24} {'CPU/call µs':>12} {'wall/call µs':>13} {'CPU vs httpx':>13}")
    base = statistics.median(cpu["httpx"])
    for name in names:
        median_cpu = statistics.median(cpu[name])
        spread = f"({min(cpu[name]) * 1e6:.0f}-{max(cpu[name]) * 1e6:.0f})"
        print(
            f"{name:<24} {median_cpu * 1e6:>7.1f} {spread:<9} "
            f"{statistics.median(wall[name]) * 1e6:>8.1f} {median_cpu / base:>12.3f}x"
        )
    overhead = statistics.median(cpu["chassis_client"]) / base - 1
    added = (statistics.median(cpu["chassis_client"]) - base) * 1e6
    print(f"chassis_client adds {added:.1f} µs of CPU per call")
    verdict = "meets" if overhead <= 0.10 else "MISSES"
    print(f"chassis_client overhead: {overhead * 100:+.1f} % CPU per call ({verdict} <= 10 %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
