"""CORS through Starlette's middleware, outermost: error responses carry it too."""

from __future__ import annotations

import chassis
import pytest

ORIGIN = "https://app.example"


def test_cors_is_off_by_default(make_chassis_app, spec):
    app = make_chassis_app(spec=spec)
    with app.test_client() as client:
        response = client.get("/items/1", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in response.headers


def test_cors_headers_on_success_errors_and_preflight(make_chassis_app, spec):
    app = make_chassis_app(
        spec=spec, settings={"cors": {"enabled": True, "allow_origins": [ORIGIN]}}
    )
    with app.test_client() as client:
        ok = client.get("/items/1", headers={"Origin": ORIGIN})
        missing = client.get("/nope", headers={"Origin": ORIGIN})
        invalid = client.get("/items/0", headers={"Origin": ORIGIN})
        unauthorized = client.get("/private", headers={"Origin": ORIGIN})
        preflight = client.options(
            "/items/1",
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
        )
        other = client.get("/items/1", headers={"Origin": "https://evil.example"})
    for response in (ok, missing, invalid, unauthorized):
        assert response.headers["access-control-allow-origin"] == ORIGIN
        assert "X-Request-ID" in response.headers["access-control-expose-headers"]
    assert (missing.status_code, invalid.status_code, unauthorized.status_code) == (404, 400, 401)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert preflight.headers["x-request-id"]
    assert "access-control-allow-origin" not in other.headers


def test_connexion_plus_use_cors_allows_every_origin(make_chassis_app, spec):
    app = make_chassis_app(spec=spec, use_cors=True)
    with app.test_client() as client:
        response = client.get("/items/1", headers={"Origin": "https://any.example"})
    assert response.headers["access-control-allow-origin"] == "*"


def test_use_cors_keeps_the_origins_the_environment_allows(make_chassis_app, spec, monkeypatch):
    make_chassis_app(spec=spec)  # clears CHASSIS_* first
    monkeypatch.setenv("CHASSIS_CORS__ALLOW_ORIGINS", '["https://a.example"]')  # a JSON list
    app = make_chassis_app(spec=spec, use_cors=True)
    assert app.settings.cors.allow_origins == ["https://a.example"]
    with app.test_client() as client:
        evil = client.get("/items/1", headers={"Origin": "https://evil.example"})
        good = client.get("/items/1", headers={"Origin": "https://a.example"})
    assert "access-control-allow-origin" not in evil.headers
    assert good.headers["access-control-allow-origin"] == "https://a.example"


def test_every_list_setting_takes_a_json_list_or_commas(make_chassis_app, monkeypatch):
    make_chassis_app()
    monkeypatch.setenv("CHASSIS_CORS__ALLOW_METHODS", '["GET", "POST"]')
    monkeypatch.setenv("CHASSIS_CORS__EXPOSE_HEADERS", "X-A, X-B")
    monkeypatch.setenv("CHASSIS_DISABLED_PLUGINS", '["tracing"]')
    settings = make_chassis_app().settings
    assert settings.cors.allow_methods == ["GET", "POST"]
    assert settings.cors.expose_headers == ["X-A", "X-B"]
    assert settings.disabled_plugins == ["tracing"]
    monkeypatch.setenv("CHASSIS_CORS__ALLOW_METHODS", '["GET", ')
    with pytest.raises(chassis.SettingsError, match=r"CHASSIS_CORS__ALLOW_METHODS.*JSON list"):
        make_chassis_app()


def test_cors_from_environment_lists(make_chassis_app, spec, monkeypatch):
    app = make_chassis_app(spec=spec)  # clears CHASSIS_* first
    monkeypatch.setenv("CHASSIS_CORS__ENABLED", "true")
    monkeypatch.setenv("CHASSIS_CORS__ALLOW_ORIGINS", "https://a.example, https://b.example")
    app = make_chassis_app(spec=spec)
    assert app.settings.cors.allow_origins == ["https://a.example", "https://b.example"]
    with app.test_client() as client:
        response = client.get("/items/1", headers={"Origin": "https://b.example"})
    assert response.headers["access-control-allow-origin"] == "https://b.example"


def test_plugins_add_headers_that_cors_exposes(make_chassis_app, spec):

    class Paging:
        @chassis.hookimpl
        def configure_app(self, app):
            app.cors_expose_headers.append("Link")

    app = make_chassis_app(
        spec=spec,
        settings={"cors": {"enabled": True, "allow_origins": [ORIGIN], "expose_headers": ["X-A"]}},
        plugins=[Paging()],
    )
    with app.test_client() as client:
        response = client.get("/items/1", headers={"Origin": ORIGIN})
    exposed = [h.strip() for h in response.headers["access-control-expose-headers"].split(",")]
    assert exposed == ["X-A", "X-Request-ID", "Link"]


def test_a_500_from_a_broken_middleware_carries_cors_headers(make_chassis_app, spec):
    from core_handlers import BrokenMiddlewarePlugin

    settings = {"cors": {"enabled": True, "allow_origins": ["https://app.example"]}}
    app = make_chassis_app(spec=spec, settings=settings, plugins=[BrokenMiddlewarePlugin()])
    with app.test_client(raise_server_exceptions=False) as client:
        response = client.get(
            "/items/1", headers={"Origin": "https://app.example", "X-Request-ID": "cors-500"}
        )
    assert response.status_code == 500
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert response.headers["x-request-id"] == "cors-500"
    assert response.headers["content-type"] == "application/problem+json"
