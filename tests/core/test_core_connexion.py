"""Connexion's own request handling keeps working unchanged under chassis.App."""

from __future__ import annotations

import json


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


def test_threads_setting_sizes_the_pool_that_runs_flask_views(make_chassis_app, spec):
    app = make_chassis_app(spec=spec, settings={"threads": 3})
    assert app._middleware_app.asgi_app.executor._max_workers == 3
    with app.test_client() as client:
        thread = client.get("/context").json()["thread"]
    assert thread.startswith("WSGI")
