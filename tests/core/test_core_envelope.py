"""The {meta, data} envelope through wrap_response; nothing is wrapped when nothing asks."""

from __future__ import annotations

import chassis


def test_envelope_is_off_by_default(make_chassis_app, spec):
    app = make_chassis_app(spec=spec)
    with app.test_client() as client:
        assert client.get("/items/1").json() == {"id": 1, "type": "int"}


def test_handlers_are_not_wrapped_when_no_plugin_implements_wrap_response(make_chassis_app, spec):
    app = make_chassis_app(spec=spec)
    assert app._response_hook is None


def test_envelope_wraps_json_results(make_chassis_app, spec):
    app = make_chassis_app(spec=spec, settings={"envelope": {"enabled": True}})
    with app.test_client() as client:
        response = client.get("/items/1", headers={"X-Request-ID": "env-1"})
        created = client.post("/notes", json={"text": "hi"})
    assert response.json() == {"meta": {"request_id": "env-1"}, "data": {"id": 1, "type": "int"}}
    assert created.status_code == 201
    assert created.json()["data"] == {"text": "hi"}


def test_envelope_leaves_errors_and_non_json_alone(make_chassis_app, spec):
    app = make_chassis_app(spec=spec, settings={"envelope": {"enabled": True}})
    with app.test_client() as client:
        csv = client.get("/csv")
        missing = client.get("/nope")
        invalid = client.get("/items/0")
    assert csv.text == "a,b\n1,2\n"
    assert missing.json()["status"] == 404
    assert invalid.json()["status"] == 400


def test_plugins_add_to_meta_before_the_envelope_is_built(make_chassis_app, spec):
    class Region:
        @chassis.hookimpl
        def wrap_response(self, result):
            result.meta["region"] = "eu"
            result.headers["X-Region"] = "eu"

    app = make_chassis_app(spec=spec, settings={"envelope": {"enabled": True}}, plugins=[Region()])
    with app.test_client() as client:
        response = client.get("/items/2", headers={"X-Request-ID": "env-2"})
    assert response.json()["meta"] == {"request_id": "env-2", "region": "eu"}
    assert response.headers["x-region"] == "eu"


def test_wrap_response_sees_body_status_and_operation(make_chassis_app, spec):
    seen = []

    class Spy:
        @chassis.hookimpl
        def wrap_response(self, result):
            seen.append((result.operation_id, result.status, result.is_json, result.body))

    app = make_chassis_app(spec=spec, plugins=[Spy()])
    with app.test_client() as client:
        client.post("/notes", json={"text": "a"})
        client.get("/csv")
        client.get("/boom")
    assert seen == [
        ("core_handlers.create_note", 201, True, {"text": "a"}),
        ("core_handlers.csv", 200, False, "a,b\n1,2\n"),
    ]


_VALIDATED_SPEC = """
openapi: 3.0.3
info: {title: validated, version: "1"}
paths:
  /items/{item_id}:
    get:
      operationId: core_handlers.get_item
      parameters:
        - {name: item_id, in: path, required: true, schema: {type: integer}}
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: %s
  /wrong-shape:
    get:
      operationId: core_handlers.wrong_shape
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {type: object, required: [id], properties: {id: {type: integer}}}
"""


def test_response_validation_checks_the_data_inside_the_envelope(make_chassis_app, tmp_path):
    spec = tmp_path / "validated.yaml"
    spec.write_text(
        _VALIDATED_SPEC % "{type: object, required: [id], properties: {id: {type: integer}}}"
    )
    app = make_chassis_app(
        spec=spec,
        settings={"envelope": {"enabled": True}},
        api_options={"validate_responses": True},
    )
    with app.test_client() as client:
        valid = client.get("/items/3")
        invalid = client.get("/wrong-shape")
    assert valid.status_code == 200
    assert valid.json()["data"] == {"id": 3, "type": "int"}
    assert invalid.status_code == 500  # {"id": "not-an-integer"} breaks the documented schema
    assert invalid.headers["content-type"] == "application/problem+json"


def test_response_validation_of_a_spec_that_documents_the_envelope(make_chassis_app, tmp_path):
    spec = tmp_path / "enveloped.yaml"
    enveloped = (
        "{type: object, required: [meta, data], properties: "
        "{meta: {type: object, required: [request_id]}, data: {type: object, required: [id]}}}"
    )
    spec.write_text(_VALIDATED_SPEC % enveloped)
    app = make_chassis_app(
        spec=spec,
        settings={"envelope": {"enabled": True}},
        api_options={"validate_responses": True, "validator_map": {}},
    )
    with app.test_client() as client:
        response = client.get("/items/4")
    assert response.status_code == 200
    assert response.json()["data"] == {"id": 4, "type": "int"}
