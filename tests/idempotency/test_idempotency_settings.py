"""Settings and spec errors stop start-up with a message naming what is wrong."""

from __future__ import annotations

from typing import Any

import chassis
import pytest
from idempotency_support import AppMaker, key


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"store_url": "http://cache:6379"},
            "CHASSIS_IDEMPOTENCY__STORE_URL (idempotency.store_url): must be a redis://",
        ),
        (
            {"ttl": "forever"},
            "CHASSIS_IDEMPOTENCY__TTL (idempotency.ttl): Value error, must be a duration such "
            "as 30s, 15m, 24h or 7d, not 'forever'",
        ),
        ({"methods": "POST,GET"}, "'GET' is not a method to make idempotent"),
        ({"on_store_error": "maybe"}, "CHASSIS_IDEMPOTENCY__ON_STORE_ERROR"),
        ({"header": "Idempotency Key"}, "'Idempotency Key' is not a header name"),
        ({"lokc_timeout": 5}, "idempotency.lokc_timeout"),
    ],
)
def test_a_bad_setting_names_the_variable(
    make_app: AppMaker, settings: dict[str, Any], message: str
) -> None:
    with pytest.raises((chassis.SettingsError, chassis.PluginError)) as raised:
        make_app(settings)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("extension", "message"),
    [
        ({"ttl": "soon"}, "ttl: must be a duration such as 30s, 15m, 24h or 7d, not 'soon'"),
        ({"requird": True}, "requird: Extra inputs are not permitted"),
    ],
)
def test_a_bad_extension_names_the_operation(
    make_app: AppMaker, extension: dict[str, Any], message: str
) -> None:
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/orders": {
                "post": {
                    "operationId": "idempotency_views.create_order",
                    "x-chassis-idempotency": extension,
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
    app = make_app(spec=spec)
    with pytest.raises(ValueError) as raised, app.test_client():
        pass
    assert "invalid x-chassis-idempotency on POST /orders (idempotency_views.create_order)" in str(
        raised.value
    )
    assert message in str(raised.value)


def test_a_safe_method_cannot_opt_in(make_app: AppMaker) -> None:
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/orders": {
                "get": {
                    "operationId": "idempotency_views.list_orders",
                    "x-chassis-idempotency": True,
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
    with pytest.raises(ValueError, match="GET is safe already"), make_app(spec=spec).test_client():
        pass


def test_durations_take_units(make_app: AppMaker) -> None:
    app = make_app({"ttl": "7d", "lock_timeout": "90s", "store_timeout": "250ms"})
    settings = app.settings.idempotency
    assert (settings.ttl, settings.lock_timeout, settings.store_timeout) == (604800, 90, 0.25)


def test_the_plugin_loads_by_its_entry_point(make_chassis_app: Any) -> None:
    from idempotency_support import SPEC

    app = make_chassis_app(spec=SPEC, settings={"plugins": ["idempotency"]}, autoload=True)
    with app.test_client() as client:
        first = client.post("/orders", json={"item": "a"}, headers=key("k"))
        again = client.post("/orders", json={"item": "a"}, headers=key("k"))
        ready = client.get("/readyz").json()
    assert first.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert ready["checks"]["idempotency"] == {"status": "up", "store": "memory"}
    layers = {layer["name"]: (layer["slot"], layer["owner"]) for layer in app.stack()}
    assert layers["IdempotencyRecordMiddleware"] == ("outer", "idempotency")
    assert layers["IdempotencyRouteMiddleware"] == ("handler", "idempotency")
