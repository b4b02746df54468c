"""The management port, in process: which endpoints each port serves (scope["server"])."""

from __future__ import annotations

import chassis
import chassis_metrics
import pytest

MANAGEMENT = "http://testserver:9464"


@pytest.fixture
def chassis_app_class(app_class):
    return app_class


def _app(make_chassis_app, spec, **settings):
    return make_chassis_app(
        spec=spec,
        settings={"management": {"port": 9464}, "loggers": {"enabled": True}, **settings},
        plugins={"metrics": chassis_metrics},
    )


@pytest.mark.parametrize(
    "path",
    ["/healthz", "/readyz", "/startupz", "/health/readiness", "/info", "/loggers", "/metrics"],
)
def test_management_endpoints_are_served_only_on_the_management_port(make_chassis_app, spec, path):
    app = _app(make_chassis_app, spec)
    with app.test_client() as api, app.test_client(base_url=MANAGEMENT) as management:
        hidden = api.get(path, headers={"X-Request-ID": "api-1"})
        shown = management.get(path)
    assert hidden.status_code == 404
    assert hidden.headers["content-type"] == "application/problem+json"
    assert hidden.json()["request_id"] == "api-1"
    assert shown.status_code == 200


def test_the_api_is_not_served_on_the_management_port(make_chassis_app, spec):
    app = _app(make_chassis_app, spec)
    with app.test_client() as api, app.test_client(base_url=MANAGEMENT) as management:
        served = api.get("/items/3")
        refused = management.get("/items/3")
    assert served.status_code == 200
    assert served.json() == {"id": 3, "type": "int"}
    assert refused.status_code == 404
    assert refused.json()["detail"] == "Only management endpoints are served on this port."


def test_the_host_header_does_not_choose_the_port(make_chassis_app, spec):
    app = _app(make_chassis_app, spec)
    with app.test_client() as api:
        response = api.get("/info", headers={"Host": "testserver:9464"})
    assert response.status_code == 404


def test_requests_on_the_management_port_are_still_counted(make_chassis_app, spec):
    app = _app(make_chassis_app, spec)
    with app.test_client() as api, app.test_client(base_url=MANAGEMENT) as management:
        api.get("/items/3")
        scrape = management.get("/metrics").text
    assert 'http_requests_total{method="GET",route="/items/{item_id}",status="200"} 1.0' in scrape


def test_without_a_management_port_everything_is_on_one_port(make_chassis_app, spec):
    app = make_chassis_app(spec=spec, plugins={"metrics": chassis_metrics})
    with app.test_client() as client:
        assert client.get("/info").status_code == 200
        assert client.get("/metrics").status_code == 200
        assert client.get("/items/1").status_code == 200


def test_a_plugin_adds_its_own_management_paths(make_chassis_app, spec):
    class Admin:
        @chassis.hookimpl
        def configure_app(self, app):
            app.management_paths.append("/admin/*")

    app = make_chassis_app(
        spec=spec, settings={"management": {"port": 9464}}, plugins={"admin": Admin()}
    )
    with app.test_client() as api, app.test_client(base_url=MANAGEMENT) as management:
        assert api.get("/admin/jobs").status_code == 404
        # Past the split, the path goes on to the app (which has no such route: its own 404).
        assert management.get("/admin/jobs").json().get("detail") != (
            "Only management endpoints are served on this port."
        )
