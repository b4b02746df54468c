"""A path the API declares wins over a kernel endpoint on the service's port, with a warning."""

from __future__ import annotations

from typing import Any

import pytest

MANAGEMENT = "http://testserver:9464"
WARNINGS_OF = "chassis.management"


@pytest.fixture
def chassis_app_class(app_class):
    return app_class


def _spec(*paths: str, base: str | None = None) -> dict[str, Any]:
    """A spec whose every path is a GET answered by ``core_handlers.own_path``."""
    items = {}
    for number, path in enumerate(paths, start=1):
        names = [piece[1:-1] for piece in path.split("/") if piece.startswith("{")]
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in names
        ]
        items[path] = {
            "get": {
                "operationId": "core_handlers.own_path" + (f"_{number}" if number > 1 else ""),
                "parameters": parameters,
                "responses": {"200": {"description": "ok"}},
            }
        }
    spec: dict[str, Any] = {"openapi": "3.0.3", "info": {"title": "own", "version": "1"}}
    if base is not None:
        spec["servers"] = [{"url": base}]
    spec["paths"] = items
    return spec


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == WARNINGS_OF and record.levelname == "WARNING"
    ]


def test_an_info_operation_of_the_api_answers_with_its_own_body(make_chassis_app, caplog):
    app = make_chassis_app(spec=_spec("/info", "/items"))
    with app.test_client() as client:
        response = client.get("/info")
    assert response.status_code == 200
    assert response.json() == {"served_by": "api", "route": "/info"}
    assert _warnings(caplog) == [
        "the API declares GET /info, which takes the path of chassis's build info endpoint "
        "(/info): requests for it reach the API, not the endpoint. Move the endpoint with "
        "CHASSIS_INFO__PATH, switch it off with CHASSIS_INFO__ENABLED=false, or serve it on a "
        "management port (CHASSIS_MANAGEMENT__PORT)"
    ]


def test_the_path_is_the_apis_for_every_method(make_chassis_app, caplog):
    spec = _spec()
    spec["paths"]["/info"] = {
        "post": {
            "operationId": "core_handlers.own_path",
            "responses": {"200": {"description": "ok"}},
        }
    }
    app = make_chassis_app(spec=spec)
    with app.test_client() as client:
        posted = client.post("/info")
        read = client.get("/info")
    assert posted.json() == {"served_by": "api", "route": "/info"}
    assert read.status_code == 405
    assert read.headers["allow"] == "POST"
    [warning] = _warnings(caplog)
    assert warning.startswith("the API declares POST /info, which takes the path")


def test_a_probe_path_of_the_api_answers_with_its_own_body(make_chassis_app, caplog):
    app = make_chassis_app(spec=_spec("/healthz"))
    with app.test_client() as client:
        own = client.get("/healthz")
        readiness = client.get("/readyz")
    assert own.json() == {"served_by": "api", "route": "/healthz"}
    assert readiness.status_code == 200
    assert readiness.json()["status"] == "up"
    [warning] = _warnings(caplog)
    assert "GET /healthz" in warning
    assert "liveness probe endpoint (/healthz)" in warning
    assert "CHASSIS_HEALTH__LIVENESS_PATH" in warning


def test_a_base_path_is_applied_before_comparing(make_chassis_app, caplog):
    app = make_chassis_app(spec=_spec("/info", base="/v1"))
    with app.test_client() as client:
        kernel = client.get("/info")
        own = client.get("/v1/info")
    assert kernel.json()["service"]["name"] == "chassis-service"
    assert own.json() == {"served_by": "api", "route": "/v1/info"}
    assert _warnings(caplog) == []


def test_a_parameter_matching_a_group_path_takes_only_the_paths_it_matches(
    make_chassis_app, caplog
):
    app = make_chassis_app(spec=_spec("/health/{id}"))
    with app.test_client() as client:
        own = client.get("/health/readiness")
        every_group = client.get("/health")
    assert own.json() == {"served_by": "api", "route": "/health/{id}", "id": "readiness"}
    assert every_group.status_code == 200
    assert "groups" in every_group.json()
    [warning] = _warnings(caplog)
    assert "GET /health/{id}" in warning
    assert "health groups endpoint (/health and /health/{...})" in warning
    assert "CHASSIS_HEALTH__GROUPS_PATH" in warning


def test_loggers_give_way_when_switched_on(make_chassis_app, caplog):
    app = make_chassis_app(spec=_spec("/loggers/{name}"), settings={"loggers": {"enabled": True}})
    with app.test_client() as client:
        own = client.get("/loggers/root")
        listing = client.get("/loggers")
    assert own.json() == {"served_by": "api", "route": "/loggers/{name}", "name": "root"}
    assert "root" in listing.json()["loggers"]
    [warning] = _warnings(caplog)
    assert "CHASSIS_LOGGERS__PATH" in warning
    assert "CHASSIS_LOGGERS__ENABLED=false" in warning


def test_moved_by_settings_both_answer_and_nothing_is_said(make_chassis_app, caplog):
    app = make_chassis_app(
        spec=_spec("/info", "/healthz"),
        settings={"info": {"path": "/about"}, "health": {"liveness_path": "/livez"}},
    )
    with app.test_client() as client:
        own_info = client.get("/info")
        own_probe = client.get("/healthz")
        kernel_info = client.get("/about")
        kernel_probe = client.get("/livez")
    assert own_info.json() == {"served_by": "api", "route": "/info"}
    assert own_probe.json() == {"served_by": "api", "route": "/healthz"}
    assert kernel_info.json()["service"]["name"] == "chassis-service"
    assert kernel_probe.json()["status"] == "up"
    assert _warnings(caplog) == []


def test_switched_off_info_says_nothing(make_chassis_app, caplog):
    app = make_chassis_app(spec=_spec("/info"), settings={"info": {"enabled": False}})
    with app.test_client() as client:
        assert client.get("/info").json()["served_by"] == "api"
    assert _warnings(caplog) == []


@pytest.mark.parametrize("kernel_path", ["/info", "/healthz", "/health/readiness", "/loggers"])
def test_with_a_management_port_each_answers_on_its_own_port(make_chassis_app, caplog, kernel_path):
    app = make_chassis_app(
        spec=_spec("/info", "/healthz", "/health/{id}", "/loggers"),
        settings={"management": {"port": 9464}, "loggers": {"enabled": True}},
    )
    with app.test_client() as api, app.test_client(base_url=MANAGEMENT) as management:
        own = api.get(kernel_path)
        kernel = management.get(kernel_path)
    assert own.status_code == 200
    assert own.json()["served_by"] == "api"
    assert kernel.status_code == 200
    assert "served_by" not in kernel.json()
    assert _warnings(caplog) == []


def test_with_a_management_port_undeclared_kernel_paths_stay_hidden(make_chassis_app):
    app = make_chassis_app(spec=_spec("/info"), settings={"management": {"port": 9464}})
    with app.test_client() as api:
        assert api.get("/readyz").status_code == 404
        assert api.get("/health/readiness").status_code == 404
