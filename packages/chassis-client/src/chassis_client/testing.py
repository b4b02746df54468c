"""Testing kit of chassis-client (pytest plugin, entry point ``pytest11``).

``stub_service(name, ...)`` stands in for a downstream service during one test: calls the app
makes to that service go to an in-process stub instead of the network, still through
everything the plugin does (propagation, deadline, retries, breaker, metrics). A stubbed
service needs no settings (its base URL is then ``http://<name>.stub``); one configured in
settings keeps its own. Start the app after stubbing (clients are made at start-up)::

    def test_lookup(make_chassis_app, stub_service):
        address = stub_service("address")  # a respx router (chassis-client[testing])
        address.get(path="/lookup").respond(json={"postcode": "SN1 1AA"})
        app = make_chassis_app(spec=SPEC, plugins=[chassis_client])
        with app.test_client() as client:
            assert client.get("/premises/1/address").status_code == 200
        assert address.calls.call_count == 1

The stub can also be an ASGI application (``stub_service("address", app=fastapi_app)``) or a
function from ``httpx.Request`` to ``httpx.Response`` (``stub_service("address",
handler=...)``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import pytest

from . import _stubs

__all__ = ["SyncASGITransport", "stub_service", "stubbed"]


class SyncASGITransport(httpx.BaseTransport):
    """An ASGI application behind a sync client: each request runs on an event loop of its
    own (in a helper thread when the caller's thread already runs one)."""

    def __init__(self, app: Any) -> None:
        self._transport = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def run() -> tuple[int, httpx.Headers, bytes]:
            response = await self._transport.handle_async_request(request)
            return response.status_code, response.headers, await response.aread()

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            status, headers, body = asyncio.run(run())
        else:
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                status, headers, body = pool.submit(asyncio.run, run()).result()
        return httpx.Response(status, headers=headers, content=body, request=request)


@contextmanager
def stubbed(
    name: str,
    *,
    app: Any = None,
    handler: Callable[[httpx.Request], httpx.Response] | None = None,
) -> Iterator[Any]:
    """Stub service ``name`` for apps started inside the block; yields the respx router when
    neither ``app`` nor ``handler`` is given (else ``None``)."""
    name = name.lower()
    router: Any = None
    if app is not None:
        stub = _stubs.Stub(SyncASGITransport(app), httpx.ASGITransport(app=app))
    elif handler is not None:
        stub = _stubs.Stub(httpx.MockTransport(handler), httpx.MockTransport(handler))
    else:
        try:
            import respx
        except ImportError:  # pragma: no cover - depends on the installation
            raise RuntimeError(
                "stub_service without app= or handler= needs respx: "
                "pip install 'chassis-client[testing]'"
            ) from None
        router = respx.MockRouter(assert_all_called=False, assert_all_mocked=True)
        stub = _stubs.Stub(httpx.MockTransport(router.handler), httpx.MockTransport(router.handler))
    previous = _stubs.stubs.get(name)
    _stubs.stubs[name] = stub
    try:
        yield router
    finally:
        if previous is None:
            _stubs.stubs.pop(name, None)
        else:
            _stubs.stubs[name] = previous


@pytest.fixture
def stub_service() -> Iterator[Callable[..., Any]]:
    """``stub_service(name, app=None, handler=None)``: stand in for service ``name`` for the
    rest of the test. Returns a respx router (``router.get(path="/x").respond(json=...)``)
    unless an ASGI ``app`` or a ``handler`` function is given."""
    with ExitStack() as stack:

        def stub(name: str, **options: Any) -> Any:
            return stack.enter_context(stubbed(name, **options))

        yield stub
