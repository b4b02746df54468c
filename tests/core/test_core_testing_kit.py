"""The pytest fixtures plugin authors and services use: overridable spec, settings, plugins."""

from __future__ import annotations

import chassis
import pytest


class Stamp:
    @chassis.hookimpl
    def wrap_response(self, result):
        result.headers["X-Stamp"] = "yes"


@pytest.fixture
def chassis_spec(spec):
    return spec


@pytest.fixture
def chassis_settings():
    return {"service_name": "kit", "envelope": {"enabled": True}}


@pytest.fixture
def chassis_plugins():
    return {"stamp": Stamp()}


def test_chassis_client_serves_the_configured_app(chassis_client):
    response = chassis_client.get("/items/5", headers={"X-Request-ID": "kit-1"})
    assert response.headers["x-stamp"] == "yes"
    assert response.json() == {"meta": {"request_id": "kit-1"}, "data": {"id": 5, "type": "int"}}
    assert chassis_client.get("/healthz").json()["service"] == "kit"


def test_chassis_app_loads_only_the_given_plugins(chassis_app):
    assert [info.name for info in chassis_app.active_plugins] == ["stamp"]
