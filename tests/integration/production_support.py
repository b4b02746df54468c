"""Helpers of the production-readiness tests: real servers, dependencies that can be taken
away and brought back, the example service with every plugin, a raw ASGI driver."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from chassis_test_support import free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
GUNICORN_CONF = DEPLOY / "gunicorn.conf.py"
EXAMPLE_SPEC = ROOT / "examples" / "directmail" / "directmail" / "openapi.yaml"
IN_CI = os.environ.get("CI", "").lower() == "true"
PLUGIN_NAMES = ["tracing", "metrics", "optimizer", "pagination", "auth"]
BIN = Path(sys.executable).parent


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a server subprocess: no CHASSIS_* or PROMETHEUS_* of ours."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("CHASSIS_", "PROMETHEUS_", "GUNICORN_", "OTEL_"))
    }
    env.update(extra or {})
    return env


def stop_process(process: subprocess.Popen[Any], timeout: float = 15.0) -> int:
    """SIGTERM, then SIGKILL after ``timeout``; the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return int(process.returncode)


# -- the example service -----------------------------------------------------------------------


def every_plugin() -> dict[str, Any]:
    import chassis_auth
    import chassis_metrics
    import chassis_optimizer
    import chassis_pagination
    import chassis_tracing

    return {
        "tracing": chassis_tracing,
        "metrics": chassis_metrics,
        "optimizer": chassis_optimizer,
        "pagination": chassis_pagination,
        "auth": chassis_auth,
    }


def example_app(database_url: str, settings: Mapping[str, Any] | None = None) -> Any:
    """The directmail service from its own factory, with every plugin passed as an object
    (no autoloading: the environment does not decide) and ``settings`` over quiet defaults."""
    from directmail.service import create_app

    merged: dict[str, Any] = {
        "plugins": [],
        "log_level": "WARNING",
        "tracing": {"exporter": "none"},
        "sqlalchemy": {"url": database_url},
    }
    for key, value in (settings or {}).items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return create_app(settings=merged, plugins=every_plugin())


def problem_errors(response: httpx.Response) -> list[str]:
    """What is wrong with an error response as RFC 9457 problem+json (empty: nothing)."""
    errors = []
    content_type = response.headers.get("content-type", "")
    if content_type.split(";")[0].strip() != "application/problem+json":
        errors.append(f"content type {content_type!r}")
        return errors
    try:
        body = response.json()
    except ValueError:
        return [f"body is not JSON: {response.content[:200]!r}"]
    if not isinstance(body, dict):
        return [f"body is not an object: {body!r}"]
    if body.get("status") != response.status_code:
        errors.append(f"status {body.get('status')!r} != {response.status_code}")
    if not isinstance(body.get("title"), str) or not body["title"]:
        errors.append("no title")
    if "type" in body and not isinstance(body["type"], str):
        errors.append("type is not a string")
    if not body.get("request_id"):
        errors.append("no request_id")
    return errors


TRACE_MARKERS = ("Traceback (most recent call last)", 'File "/', "site-packages", '.py", line')


def leaks_internals(text: str) -> bool:
    return any(marker in text for marker in TRACE_MARKERS)


# -- a raw ASGI driver (headers no HTTP client would send) ---------------------------------


class AsgiDriver:
    """Runs an ASGI app's lifespan and sends it requests built by hand, on one event loop in
    a thread: header values may hold bytes (CR, LF, NUL) that HTTP clients refuse to send,
    as a lenient proxy in front of the service might pass them on."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._lifespan_queue: asyncio.Queue[dict[str, Any]] | None = None
        self._lifespan_sent: asyncio.Queue[dict[str, Any]] | None = None
        self._lifespan_task: Any = None

    def _run(self, coroutine: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def __enter__(self) -> AsgiDriver:
        self._run(self._startup())
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self._run(self._shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    async def _startup(self) -> None:
        self._lifespan_queue = asyncio.Queue()
        self._lifespan_sent = asyncio.Queue()
        queue, sent = self._lifespan_queue, self._lifespan_sent
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._lifespan_task = asyncio.ensure_future(self.app(scope, queue.get, sent.put))
        await queue.put({"type": "lifespan.startup"})
        message = await asyncio.wait_for(sent.get(), 20)
        assert message["type"] == "lifespan.startup.complete", message

    async def _shutdown(self) -> None:
        assert self._lifespan_queue is not None and self._lifespan_sent is not None
        await self._lifespan_queue.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(self._lifespan_sent.get(), 10)

    def request(
        self,
        method: str,
        path: str,
        headers: Sequence[tuple[bytes, bytes]] = (),
        body: bytes = b"",
        query: bytes = b"",
    ) -> tuple[int, dict[bytes, bytes], bytes]:
        return self._run(self._request(method, path, list(headers), body, query))  # type: ignore[no-any-return]

    async def _request(
        self,
        method: str,
        path: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        query: bytes,
    ) -> tuple[int, dict[bytes, bytes], bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode("latin-1", "replace"),
            "query_string": query,
            "root_path": "",
            "headers": [(b"host", b"testserver"), *headers],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "state": {},
            "extensions": {},
        }
        sent_body = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        status = 0
        response_headers: dict[bytes, bytes] = {}
        chunks: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    response_headers[bytes(name).lower()] = bytes(value)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, response_headers, b"".join(chunks)


# -- dependencies that can be taken away -----------------------------------------------------


class TcpProxy:
    """A TCP proxy on a fixed 127.0.0.1 port in front of ``target``.

    ``cut()`` closes the listener and every proxied connection (clients see refused and reset
    connections), ``blackhole()`` keeps accepting but forwards nothing (clients hang until
    their own time-outs), ``restore()`` serves again on the same port.
    """

    def __init__(self, target: tuple[str, int], port: int | None = None) -> None:
        self.target = target
        self.port = port or free_port()
        self.mode = "up"
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.restore()

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def restore(self) -> None:
        self.cut()
        self.mode = "up"
        self._listen()

    def blackhole(self) -> None:
        self.cut()
        self.mode = "blackhole"
        self._listen()

    def cut(self) -> None:
        self.mode = "down"
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    close = cut

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(self.address)
        listener.listen(128)
        listener.settimeout(0.1)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            with self._lock:
                self._sockets.add(client)
            if self.mode == "blackhole":
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.add(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class RedisServer:
    """A redis-server of the test's own on a free port (never the shared one on 6379)."""

    def __init__(self, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            message = "redis-server is not installed"
            if IN_CI:
                pytest.fail(f"{message} (CI=true: fault tests must run)")
            pytest.skip(message)
        self.binary = binary
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("redis-server did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    close = kill


class OtlpReceiver:
    """An OTLP/HTTP traces receiver on a fixed port that can be stopped and started again."""

    def __init__(self, port: int | None = None, *, keep: bool = True) -> None:
        self.port = port or free_port()
        self.keep = keep
        """Keep every span's name and resource (``spans``); otherwise only count them."""
        self.spans: list[dict[str, Any]] = []
        self.received = 0
        self._lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                message = ExportTraceServiceRequest()
                message.ParseFromString(body)
                found = []
                for resource_spans in message.resource_spans:
                    resource = {
                        a.key: a.value.string_value for a in resource_spans.resource.attributes
                    }
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            found.append({"name": span.name, "resource": resource})
                with receiver._lock:
                    receiver.received += len(found)
                    if receiver.keep:
                        receiver.spans.extend(found)
                payload = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    close = stop

    def count(self) -> int:
        with self._lock:
            return self.received


@contextlib.contextmanager
def closing_all(*things: Any) -> Iterator[None]:
    try:
        yield
    finally:
        for thing in things:
            with contextlib.suppress(Exception):
                thing.close()
