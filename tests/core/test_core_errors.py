"""Every error leaves as problem+json with the request id; no internals ever leave."""

from __future__ import annotations

import sys
import types

import chassis
import pytest


def test_unknown_route_is_a_404_problem(make_chassis_app, spec):
    app = make_chassis_app(spec=spec)
    with app.test_client() as client:
        response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["title"] == "Not Found"
    assert body["request_id"] == response.headers["x-request-id"]


def test_wrong_method_is_a_405_problem(make_chassis_app, spec):
    app = make_chassis_app(spec=spec)
    with app.test_client() as client:
        response = client.delete("/items/1")
    assert response.status_code == 405
    assert response.json()["title"] == "Method Not Allowed"
    assert response.headers["x-request-id"]


def test_a_405_allows_every_method_of_the_path(make_chassis_app):
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "allow", "version": "1"},
        "paths": {
            "/premises": {
                "get": {
                    "operationId": "core_handlers.search",
                    "responses": {"200": {"description": "ok"}},
                },
                "post": {
                    "operationId": "core_handlers.create_note",
                    "responses": {"201": {"description": "ok"}},
                },
            },
            "/premises/{id}": {
                "delete": {
                    "operationId": "core_handlers.show_context",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {"204": {"description": "ok"}},
                },
            },
        },
    }
    with make_chassis_app(spec=spec).test_client() as client:
        collection = client.delete("/premises")
        item = client.get("/premises/7")
    assert collection.status_code == 405
    assert collection.headers["allow"] == "GET, HEAD, POST"
    assert item.status_code == 405
    assert item.headers["allow"] == "DELETE"


def test_every_validation_400_has_one_line_and_invalid_params(make_chassis_app, spec):
    with make_chassis_app(spec=spec).test_client() as client:
        query = client.get("/search?pageSize=500")
        path = client.get("/items/0")
        body = client.post("/notes", json={"text": "x" * 30})
        missing = client.post("/notes", json={})
        wrong_type = client.get("/search?pageSize=lots")
    expected = [
        (query, {"name": "pageSize", "in": "query"}, "500 is greater than the maximum of 50"),
        (path, {"name": "item_id", "in": "path"}, "0 is less than the minimum of 1"),
        (body, {"name": "/text", "in": "body"}, "is too long"),
        (missing, {"name": "/", "in": "body"}, "'text' is a required property"),
        (wrong_type, {"name": "pageSize", "in": "query"}, "is not of type 'integer'"),
    ]
    for response, where, reason in expected:
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert "\n" not in problem["detail"], problem
        assert "Failed validating" not in problem["detail"] and "schema" not in problem["detail"]
        [param] = problem["invalid-params"]
        assert {k: param[k] for k in ("name", "in")} == where, problem
        assert reason in param["reason"], problem
        assert problem["request_id"] == response.headers["x-request-id"]


def test_unhandled_exception_is_a_generic_500_and_the_trace_is_logged(
    make_chassis_app, spec, capsys
):
    app = make_chassis_app(spec=spec)
    with app.test_client() as client:
        response = client.get("/boom", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    body = response.json()
    assert body["title"] == "Internal Server Error"
    assert body["request_id"] == "req-500"
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    logged = capsys.readouterr().out
    assert "[ERROR][req-500] chassis.errors: unhandled RuntimeError in GET /boom" in logged
    assert "Traceback" in logged and "hunter2" in logged


@pytest.mark.flask_only
def test_flask_abort_keeps_its_status_and_detail(make_chassis_app, spec):
    app = make_chassis_app(spec=spec)
    with app.test_client() as client:
        response = client.get("/abort")
    assert response.status_code == 418
    assert response.json()["detail"] == "short and stout"


@pytest.mark.flask_only
def test_flask_abort_keeps_the_headers_of_its_exception(make_chassis_app, spec):
    app = make_chassis_app(spec=spec)
    with app.test_client() as client:
        method = client.get("/abort/method", headers={"X-Request-ID": "abort-1"})
        busy = client.get("/abort/busy")
    assert method.status_code == 405
    assert method.headers["allow"] == "GET, PUT"
    assert method.headers["content-type"] == "application/problem+json"
    assert method.json()["request_id"] == "abort-1"
    assert busy.status_code == 429
    assert busy.headers["retry-after"] == "30"


@pytest.mark.flask_only
def test_flask_abort_with_a_response_sends_that_response(make_chassis_app, spec):
    app = make_chassis_app(spec=spec)
    with app.test_client() as client:
        response = client.get("/abort/response", headers={"X-Request-ID": "abort-2"})
    assert response.status_code == 401
    assert response.text == "go away"
    assert response.headers["www-authenticate"] == 'Basic realm="x"'
    assert response.headers["x-request-id"] == "abort-2"


def test_missing_credentials_are_a_401_problem(make_chassis_app, spec):
    app = make_chassis_app(spec=spec)
    with app.test_client() as client:
        missing = client.get("/private")
        wrong = client.get("/private", headers={"Authorization": "Bearer bad"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["request_id"] == missing.headers["x-request-id"]


def test_connexion_plus_default_handler_callable_replaces_the_500(make_chassis_app, spec):
    seen = []

    def handler(exc):
        seen.append(type(exc).__name__)
        return {"status": 503, "title": "Try later", "detail": "degraded"}

    app = make_chassis_app(spec=spec, use_default_handler=handler)
    with app.test_client() as client:
        response = client.get("/boom")
    assert seen == ["RuntimeError"]
    assert response.status_code == 503
    assert response.json()["detail"] == "degraded"
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_error_handler_setting_names_a_handler_by_import_path(make_chassis_app, spec, monkeypatch):
    module = types.ModuleType("core_custom_errors")

    def handle(request, exc):
        return chassis.problem_response(500, "Oops", f"{request.method} failed")

    module.handle = handle
    monkeypatch.setitem(sys.modules, "core_custom_errors", module)
    app = make_chassis_app(spec=spec, settings={"error_handler": "core_custom_errors:handle"})
    with app.test_client() as client:
        response = client.get("/boom")
    assert response.json()["title"] == "Oops"
    assert response.json()["detail"] == "GET failed"


def test_a_failing_custom_handler_falls_back_to_the_default_500(make_chassis_app, spec):
    def handler(request, exc):
        raise ValueError("handler bug")

    app = make_chassis_app(spec=spec, use_default_handler=handler)
    with app.test_client() as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.json()["title"] == "Internal Server Error"


def test_a_plugin_error_handler_replaces_the_kernels(make_chassis_app, spec):
    class Teapot:
        @chassis.hookimpl
        def register_error_handlers(self, app):
            app.add_error_handler(
                RuntimeError, lambda request, exc: chassis.problem_response(507, "Full")
            )

    app = make_chassis_app(spec=spec, plugins=[Teapot()])
    with app.test_client() as client:
        response = client.get("/boom")
    assert response.status_code == 507
    assert response.json()["title"] == "Full"


def test_a_broken_middleware_still_gets_a_problem_500_with_request_id(make_chassis_app, spec):
    from core_handlers import BrokenMiddlewarePlugin

    app = make_chassis_app(spec=spec, plugins=[BrokenMiddlewarePlugin()])
    with app.test_client(raise_server_exceptions=False) as client:
        response = client.get("/items/1", headers={"X-Request-ID": "mw-1"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "mw-1"
    assert response.json()["request_id"] == "mw-1"
    assert "middleware bug" not in response.text
