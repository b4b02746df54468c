"""A real HTTP server on 127.0.0.1 standing in for a downstream service, whose answers a test
scripts: it fails, hangs and recovers."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Downstream:
    """An ASGI app: answers each request with the next scripted step, else ``default``.

    A step is a status (``503``), ``("hang", seconds)``, or ``(status, headers)``. Every
    request is recorded in ``seen``; the JSON body echoes the request's headers.
    """

    url: str = ""
    default: Any = 200
    script: deque[Any] = field(default_factory=deque)
    seen: list[Seen] = field(default_factory=list)
    token_fetches: int = 0
    token_lifetime: int = 3600

    def fail(self, *statuses: Any) -> None:
        self.script.extend(statuses)

    def hang(self, seconds: float, times: int = 1) -> None:
        self.script.extend([("hang", seconds)] * times)

    def down(self, status: int = 503) -> None:
        self.default = status

    def recover(self) -> None:
        self.script.clear()
        self.default = 200

    def count(self, path: str | None = None) -> int:
        return len([s for s in self.seen if path is None or s.path == path])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        path = scope["path"]
        if path == "/.well-known/openid-configuration":
            await _json(send, 200, {"token_endpoint": self.url + "/token"})
            return
        if path == "/token":
            self.token_fetches += 1
            token = f"token-{self.token_fetches}"
            await _json(send, 200, {"access_token": token, "expires_in": self.token_lifetime})
            return
        self.seen.append(Seen(scope["method"], path, headers, body))
        step = self.script.popleft() if self.script else self.default
        extra: dict[str, str] = {}
        if isinstance(step, tuple) and step[0] == "hang":
            await asyncio.sleep(step[1])
            step = 200
        elif isinstance(step, tuple):
            step, extra = step
        if path == "/protected" and headers.get("authorization") != "Bearer token-2":
            step = 401 if headers.get("authorization") == "Bearer token-1" else step
        await _json(send, step, {"path": path, "headers": headers, "n": len(self.seen)}, extra)


async def _json(send: Any, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    raw = json.dumps(body).encode()
    pairs = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    pairs += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": pairs})
    await send({"type": "http.response.body", "body": raw})


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a free port of 127.0.0.1; yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # log_config=None: a test server must not reconfigure the process's logging.
    config = uvicorn.Config(
        app, lifespan="off", log_config=None, timeout_graceful_shutdown=1, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the downstream test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


FAST_RETRIES = {"backoff_initial": 0.01, "backoff_max": 0.02}


def service_settings(url: str, **overrides: Any) -> dict[str, Any]:
    section: dict[str, Any] = {"base_url": url, "retry": dict(FAST_RETRIES)}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(section.get(key), dict):
            section[key] = {**section[key], **value}
        else:
            section[key] = value
    return section
