"""Minify: compact JSON through orjson (Connexion's jsonifier, Flask's provider), minified HTML."""

from __future__ import annotations

import json
from typing import Any

import flask
import optimizer_views
import pytest
from chassis_optimizer._json import OrjsonJsonifier, OrjsonProvider
from optimizer_support import AppMaker

IDENTITY = {"Accept-Encoding": "identity"}


def test_json_is_compact_and_served_by_orjson(make_app: AppMaker) -> None:
    app = make_app()
    assert isinstance(app.jsonifier.fast, OrjsonJsonifier)  # type: ignore[attr-defined]
    if app.flask_app is not None:
        assert isinstance(app.flask_app.json, OrjsonProvider)
    with app.test_client() as client:
        response = client.get("/items", headers=IDENTITY)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert b", " not in response.content and b"\n " not in response.content
    assert response.json() == optimizer_views.ITEMS


def test_types_connexion_serializes_still_serialize(client: Any) -> None:
    response = client.get("/types", headers=IDENTITY)

    assert response.status_code == 200
    assert response.json() == {
        "when": "2024-05-01T12:30:00Z",
        "aware": "2024-05-01T12:30:00+00:00",
        "day": "2024-05-01",
        "price": 12.5,
        "id": "12345678-1234-5678-1234-567812345678",
        "1": "one",
        "big": 2**70,
    }


def test_orjson_jsonifier_matches_connexion_on_common_types() -> None:
    import datetime
    import decimal
    import uuid

    jsonifier = OrjsonJsonifier(lambda: True)
    value = {
        "naive": datetime.datetime(2024, 1, 2, 3, 4, 5, 600),
        "day": datetime.date(2024, 1, 2),
        "price": decimal.Decimal("1.25"),
        "id": uuid.UUID(int=1),
        2: [1.5, None, True],
        None: "null key",
    }
    assert json.loads(jsonifier.dumps(value)) == {
        "naive": "2024-01-02T03:04:05.000600Z",
        "day": "2024-01-02",
        "price": 1.25,
        "id": "00000000-0000-0000-0000-000000000001",
        "2": [1.5, None, True],
        "null": "null key",
    }
    assert jsonifier.dumps({"a": 1}) == '{"a":1}\n'
    assert jsonifier.dumps({"a": 1}, indent=4) == '{\n    "a": 1\n}\n'
    assert jsonifier.loads(b'{"a": [1]}') == {"a": [1]}
    assert jsonifier.loads("not json") == "not json"


def test_do_not_minify_keeps_json_indented(make_app: AppMaker) -> None:
    with make_app().test_client() as client:
        pretty = client.get("/pretty", headers=IDENTITY)
        spec_pretty = client.get("/spec-pretty", headers=IDENTITY)
        compact = client.get("/small", headers=IDENTITY)

    assert pretty.text == '{\n  "a": 1,\n  "b": [\n    1,\n    2\n  ]\n}\n'
    assert spec_pretty.text == pretty.text
    assert compact.text == '{"ok":true}\n'


def test_minify_off_globally_and_on_for_one_route(make_app: AppMaker) -> None:
    with make_app({"minify": False}).test_client() as client:
        indented = client.get("/small", headers=IDENTITY)
        page = client.get("/page", headers=IDENTITY)
        minified_page = client.get("/page-minified", headers=IDENTITY)

    assert indented.text == '{\n  "ok": true\n}\n'
    assert page.text == optimizer_views.PAGE
    assert len(minified_page.content) < len(optimizer_views.PAGE) * 0.8


def test_html_is_minified(client: Any) -> None:
    response = client.get("/page", headers=IDENTITY)

    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    html = response.text
    assert len(html) < len(optimizer_views.PAGE) * 0.8
    assert "<!-- a comment -->" not in html
    assert "Hello, world." in html
    assert "color:red" in html


def test_do_not_minify_leaves_html_alone(client: Any) -> None:
    response = client.get("/page-as-is", headers=IDENTITY)

    assert response.text == optimizer_views.PAGE


def test_swagger_ui_still_works(client: Any) -> None:
    response = client.get("/ui/", headers={"Accept-Encoding": "gzip"})

    assert response.status_code == 200
    assert "swagger-ui" in response.text
    assert "SwaggerUIBundle" in response.text


@pytest.mark.flask_only
def test_flask_json_provider_is_orjson(make_app: AppMaker) -> None:
    app = make_app()

    @app.app.route("/plain")
    def plain() -> Any:
        return flask.jsonify(b=2, a=[1, {"z": None}])

    @app.app.route("/dict")
    def as_dict() -> Any:
        return {"z": 1, "a": optimizer_views.ITEMS[:2]}

    with app.test_client() as client:
        plain_response = client.get("/plain", headers=IDENTITY)
        dict_response = client.get("/dict", headers=IDENTITY)

    assert plain_response.text == '{"a":[1,{"z":null}],"b":2}\n'
    assert plain_response.headers["content-type"] == "application/json"
    assert dict_response.json() == {"z": 1, "a": optimizer_views.ITEMS[:2]}
    with app.app.app_context():
        assert flask.json.dumps({"b": 1, "a": 2}) == '{"a":2,"b":1}'
        assert flask.json.loads('{"a": 1}') == {"a": 1}


def test_fast_json_can_be_switched_off(make_app: AppMaker) -> None:
    app = make_app({"fast_json": False})

    assert not isinstance(app.jsonifier.fast, OrjsonJsonifier)  # type: ignore[attr-defined]
    if app.flask_app is not None:
        assert not isinstance(app.flask_app.json, OrjsonProvider)
    with app.test_client() as client:
        assert client.get("/items", headers=IDENTITY).json() == optimizer_views.ITEMS
