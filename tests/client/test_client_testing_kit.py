"""The testing kit: stub a downstream service by name (respx router, ASGI app or handler);
calls still go through the plugin's propagation, retries and breaker."""

from __future__ import annotations

import json

import chassis_client
import httpx
import pytest
from chassis_client import _stubs
from chassis_client.testing import stubbed
from client_spec import SPEC

KINDS = ["sync", "async"]


def _app(make_chassis_app, **client_settings):
    return make_chassis_app(
        spec=SPEC, settings={"client": client_settings}, plugins=[chassis_client]
    )


@pytest.mark.parametrize("kind", KINDS)
def test_a_respx_stub_answers_for_an_unconfigured_service(make_chassis_app, stub_service, kind):
    down = stub_service("down")
    route = down.get(path="/items")
    route.side_effect = [httpx.Response(503), httpx.Response(200, json={"items": [1]})]
    app = _app(make_chassis_app, require=["down"])
    with app.test_client() as client:
        response = client.get(f"/{kind}/items", headers={"X-Request-ID": "stubbed-1"})
    assert response.json() == {"status": 200, "body": {"items": [1]}}
    assert route.call_count == 2  # retried through the plugin
    request = route.calls.last.request
    assert str(request.url) == "http://down.stub/items"
    assert request.headers["x-request-id"] == "stubbed-1"


@pytest.mark.parametrize("kind", KINDS)
def test_an_in_process_asgi_app_can_stand_in(make_chassis_app, stub_service, kind):
    async def address_service(scope, receive, send):
        body = json.dumps({"path": scope["path"], "headers": {}}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    stub_service("down", app=address_service)
    with _app(make_chassis_app).test_client() as client:
        response = client.get(f"/{kind}/lookup")
    assert response.json()["body"]["path"] == "/lookup"


@pytest.mark.parametrize("kind", KINDS)
def test_a_configured_service_keeps_its_base_url(make_chassis_app, stub_service, kind):
    seen = []

    def handler(request):
        seen.append(str(request.url))
        return httpx.Response(200, json={"ok": True})

    stub_service("down", handler=handler)
    app = _app(make_chassis_app, services={"down": {"base_url": "http://address:8080/v2"}})
    with app.test_client() as client:
        assert client.get(f"/{kind}/lookup").json()["status"] == 200
    assert seen == ["http://address:8080/v2/lookup"]


def test_a_stub_lasts_for_its_block_only():
    with stubbed("ledger", handler=lambda request: httpx.Response(204)) as router:
        assert router is None
        assert "ledger" in _stubs.stubs
    assert "ledger" not in _stubs.stubs


def test_the_breaker_works_on_a_stub_too(make_chassis_app, stub_service):
    down = stub_service("down")
    route = down.get(path="/items").respond(500, json={"error": "boom"})
    app = _app(
        make_chassis_app,
        services={
            "down": {
                "base_url": "http://down.stub",
                "breaker": {"failure_threshold": 2},
                "retry": {"attempts": 1},
            }
        },
    )
    with app.test_client() as client:
        statuses = [client.get("/sync/items").status_code for _ in range(3)]
    assert statuses == [200, 200, 503]  # the view answers the downstream's 500 as data
    assert route.call_count == 2
