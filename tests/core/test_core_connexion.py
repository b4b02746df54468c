"""Connexion's own request handling keeps working unchanged under chassis.App."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest


def test_documented_problem_responses_do_not_break_content_type_inference(make_chassis_app, spec):
    # /items/{item_id} documents a 404 as application/problem+json beside its JSON 200:
    # bare Connexion answers 500 "Multiple response content types" for a returned dict.
    app = make_chassis_app(spec=spec, validate_responses=True)
    with app.test_client() as client:
        response = client.get("/items/7")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"


def test_path_parameter_is_cast_and_injected(make_chassis_app, spec):
    app = make_chassis_app(spec=spec)
    with app.test_client() as client:
        response = client.get("/items/7")
    assert response.status_code == 200
    assert response.json() == {"id": 7, "type": "int"}


def test_pythonic_params_turn_camel_case_and_builtins_into_python_names(make_chassis_app, spec):
    app = make_chassis_app(spec=spec, api_options={"pythonic_params": True})
    with app.test_client() as client:
        response = client.get("/search", params={"pageSize": "5", "filter": "x"})
    assert response.json() == {"page_size": 5, "filter": "x"}


def test_x_body_name_names_the_body_argument(make_chassis_app, spec):
    app = make_chassis_app(spec=spec)
    with app.test_client() as client:
        response = client.post("/notes", json={"text": "hi"})
    assert response.status_code == 201
    assert response.json() == {"text": "hi"}


def test_request_validation_error_is_problem_json_with_detail(make_chassis_app, spec):
    app = make_chassis_app(spec=spec)
    with app.test_client() as client:
        response = client.post("/notes", json={"text": "x" * 50})
        bad_param = client.get("/search", params={"pageSize": "lots"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 400
    assert "is too long" in body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert bad_param.status_code == 400
    assert "pageSize" in bad_param.json()["detail"] or "lots" in bad_param.json()["detail"]


def test_response_validation_failure_is_a_500_without_internals(make_chassis_app, spec):
    app = make_chassis_app(spec=spec, validate_responses=True)
    with app.test_client() as client:
        response = client.get("/wrong-shape")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "not-an-integer" not in response.text


def test_context_argument_is_injected(make_chassis_app, spec):
    app = make_chassis_app(spec=spec)
    with app.test_client() as client:
        response = client.get("/private", headers={"Authorization": "Bearer good"})
    assert response.status_code == 200
    assert response.json()["connexion_user"] == "alice"


def test_swagger_ui_and_spec_are_served(make_chassis_app, spec):
    app = make_chassis_app(spec=spec)
    with app.test_client() as client:
        ui = client.get("/ui/")
        document = client.get("/openapi.json")
    assert ui.status_code == 200
    assert "swagger" in ui.text.lower()
    assert document.json()["info"]["title"] == "core tests"


def test_json_is_compact_by_default_and_indented_on_request(make_chassis_app, spec):
    compact = make_chassis_app(spec=spec)
    indented = make_chassis_app(spec=spec, settings={"json_indent": 2})
    with compact.test_client() as client:
        body = client.get("/items/3").text
    assert body.strip() == '{"id":3,"type":"int"}'
    with indented.test_client() as client:
        body = client.get("/items/3").text
    assert body.strip() == json.dumps({"id": 3, "type": "int"}, indent=2)


_busy = {"now": 0, "most": 0}
_busy_lock = threading.Lock()


def busy() -> dict[str, int]:
    with _busy_lock:
        _busy["now"] += 1
        _busy["most"] = max(_busy["most"], _busy["now"])
    time.sleep(0.2)
    with _busy_lock:
        _busy["now"] -= 1
    return {}


def test_threads_setting_bounds_the_threads_that_run_sync_handlers(make_chassis_app):
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "threads", "version": "1"},
        "paths": {
            "/busy": {
                "get": {
                    "operationId": f"{__name__}.busy",
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
    _busy.update(now=0, most=0)
    app = make_chassis_app(spec=spec, settings={"threads": 2})
    with app.test_client() as client, ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda _: client.get("/busy").status_code, range(6)))
    assert statuses == [200] * 6
    assert _busy["most"] == 2


class _Money:
    def __init__(self, cents: int) -> None:
        self.cents = cents


def money() -> dict[str, object]:
    return {"zeta": 1, "alpha": _Money(250)}


_MONEY_SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "money", "version": "1"},
    "paths": {
        "/money": {
            "get": {
                "operationId": f"{__name__}.money",
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
}


@pytest.mark.flask_only
def test_a_flask_json_provider_the_application_sets_is_honoured(make_chassis_app):
    from flask.json.provider import DefaultJSONProvider

    class MoneyProvider(DefaultJSONProvider):
        @staticmethod
        def default(value):
            if isinstance(value, _Money):
                return f"{value.cents / 100:.2f} EUR"
            return DefaultJSONProvider.default(value)

    app = make_chassis_app(spec=_MONEY_SPEC)
    app.app.json = MoneyProvider(app.app)
    with app.test_client() as client:
        response = client.get("/money")
    assert response.status_code == 200
    assert response.json() == {"alpha": "2.50 EUR", "zeta": 1}
    assert response.text.index('"alpha"') < response.text.index('"zeta"')  # Flask sorts keys


def test_without_a_provider_of_its_own_responses_stay_compact(make_chassis_app, spec):
    with make_chassis_app(spec=spec).test_client() as client:
        body = client.get("/items/1").text
    assert ": " not in body and "\n " not in body


def test_an_application_with_its_own_middleware_list_gets_every_layer(make_chassis_app, spec):
    from connexion.middleware.context import ContextMiddleware
    from connexion.middleware.exceptions import ExceptionMiddleware
    from connexion.middleware.routing import RoutingMiddleware
    from connexion.middleware.server_error import ServerErrorMiddleware

    app = make_chassis_app(
        spec=spec,
        middlewares=[
            ServerErrorMiddleware,
            ExceptionMiddleware,
            RoutingMiddleware,
            ContextMiddleware,
        ],
    )
    with app.test_client() as client:
        found = client.get("/items/1", headers={"X-Request-ID": "own-stack"})
        missing = client.get("/nowhere")
        ready = client.get("/readyz")
    assert found.status_code == 200 and found.headers["x-request-id"] == "own-stack"
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert ready.status_code == 200
    slots = [row["slot"] for row in app.stack()]
    assert slots.index("request") < slots.index("exception") < slots.index("probes")
