"""Names the optimizer's tests import (a module of its own: several conftests share the name
"conftest", so importing from one is order-dependent)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chassis
from chassis_test_support import free_port, wait_until_serving
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

SPEC = Path(__file__).parent / "optimizer_spec.yaml"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379

AppMaker = Callable[..., chassis.App]
Settings = Callable[..., dict[str, Any]]
"""Optimizer settings of one backend (the ``cache`` fixture): ``cache(**more)``."""


def status(response: Any) -> str:
    """``hit``, ``stored`` (a miss that was stored), ``bypass`` or ``miss``."""
    value = response.headers["cache-status"]
    if "; hit" in value:
        return "hit"
    if "fwd=bypass" in value:
        return "bypass"
    return "stored" if value.endswith("; stored") else "miss"


@dataclass
class Sent:
    """One response as the app sent it: nothing decoded, nothing dropped."""

    status: int
    headers: list[tuple[str, str]]
    """Every header field, in order, names lower-case."""
    body: bytes
    """The bytes of every body message, joined (a HEAD's must be empty)."""

    def header(self, name: str) -> str | None:
        """The value of header ``name``, or ``None``; a repeated header fails the test."""
        values = [value for key, value in self.headers if key == name]
        assert len(values) <= 1, f"{name} sent {len(values)} times: {values}"
        return values[0] if values else None

    def fields(self, *ignored: str) -> dict[str, str]:
        """Every header but ``ignored`` ones (and those that differ per response)."""
        skip = {"date", "x-request-id", "age", *ignored}
        return {key: value for key, value in self.headers if key not in skip}


class WireClient:
    """A test client that reports what the app sent (:class:`Sent`), not what httpx made of
    it: httpx decodes bodies and Starlette's test client drops the body of a HEAD itself."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.messages: list[Message] = []

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> Sent:
        self.messages = []
        self.client.request(method, path, headers=headers or {})
        # Starlette's test client asks templates for "http.response.debug" messages.
        messages = [m for m in self.messages if m["type"] != "http.response.debug"]
        kinds = [message["type"] for message in messages]
        assert kinds[0] == "http.response.start", kinds
        assert set(kinds[1:]) == {"http.response.body"}, kinds
        start, *rest = messages
        return Sent(
            start["status"],
            [(key.decode("latin-1"), value.decode("latin-1")) for key, value in start["headers"]],
            b"".join(message.get("body", b"") for message in rest),
        )

    def get(self, path: str, headers: dict[str, str] | None = None) -> Sent:
        return self.request("GET", path, headers)

    def head(self, path: str, headers: dict[str, str] | None = None) -> Sent:
        return self.request("HEAD", path, headers)


@contextmanager
def serving(app: chassis.App, **config: Any) -> Iterator[str]:
    """``app`` on a real uvicorn in a thread; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        # log_config=None: a test server must not reconfigure the process's logging.
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, **config)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base + "/healthz")
        yield base
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def wire_client(app: chassis.App) -> Iterator[WireClient]:
    """A :class:`WireClient` of ``app``, its lifespan run (``with``)."""
    wire: WireClient

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def record(message: Message) -> None:
            wire.messages.append(message)
            await send(message)

        await app(scope, receive, record)

    with TestClient(recording) as client:
        wire = WireClient(client)
        yield wire


__all__ = [
    "REDIS_HOST",
    "REDIS_PORT",
    "SPEC",
    "AppMaker",
    "Sent",
    "Settings",
    "WireClient",
    "free_port",
    "serving",
    "status",
    "wire_client",
]
