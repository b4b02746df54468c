"""Defaults and overrides in the settings, exempt paths, and clear errors at start-up."""

from __future__ import annotations

from typing import Any

import chassis
import pytest
from ratelimit_support import AppMaker


def statuses(client: Any, path: str, count: int) -> list[int]:
    return [client.get(path).status_code for _ in range(count)]


def test_default_limits_apply_to_operations_that_declare_none(make_app: AppMaker) -> None:
    with make_app({"default_limits": "2/minute"}).test_client() as client:
        open_operation = statuses(client, "/open", 3)
        declared = statuses(client, "/limited", 4)  # its own 3 per minute
        opted_out = statuses(client, "/opted-out", 3)  # x-chassis-ratelimit: false
        policy = client.get("/open").headers["RateLimit-Policy"]
    assert open_operation == [200, 200, 429]
    assert declared == [200, 200, 200, 429]
    assert opted_out == [200] * 3
    assert policy == '"2-per-1m";q=2;w=60'


def test_overrides_replace_an_operation_s_limits(make_app: AppMaker) -> None:
    overrides = {
        "ratelimit_views.limited": {"limit": 1, "per": "10s", "name": "tight"},
        "GET /text": False,
        "ratelimit_views.open_operation": ["1/second", {"limit": 2, "per": 60}],
    }
    with make_app({"overrides": overrides}).test_client() as client:
        limited = statuses(client, "/limited", 2)
        text = statuses(client, "/text", 4)
        first_open = client.get("/open")
    assert limited == [200, 429]
    assert text == [200] * 4
    assert first_open.headers["RateLimit-Policy"] == '"1-per-1s";q=1;w=1, "2-per-1m";q=2;w=60'


def test_settings_come_from_the_environment(
    make_chassis_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chassis_ratelimit
    from ratelimit_views import SPEC

    monkeypatch.setenv("CHASSIS_RATELIMIT__DEFAULT_LIMITS", "1 per minute")
    monkeypatch.setenv("CHASSIS_RATELIMIT__OVERRIDES", '{"GET /limited": "2/minute"}')
    monkeypatch.setenv("CHASSIS_RATELIMIT__KEY_BY", "address")
    monkeypatch.setenv("CHASSIS_RATELIMIT__TRUSTED_PROXIES", "10.0.0.0/8,192.168.0.1")
    monkeypatch.setenv("CHASSIS_RATELIMIT__HEADERS", "false")
    app = make_chassis_app(spec=SPEC, plugins={"ratelimit": chassis_ratelimit})
    with app.test_client(client=("192.168.0.1", 4000)) as client:
        forwarded = {"X-Forwarded-For": "198.51.100.1"}
        open_operation = [client.get("/open", headers=forwarded).status_code for _ in range(2)]
        limited = [client.get("/limited", headers=forwarded) for _ in range(3)]
        other_client = client.get("/open", headers={"X-Forwarded-For": "198.51.100.2"})
    assert open_operation == [200, 429]
    assert [r.status_code for r in limited] == [200, 200, 429]
    assert "RateLimit" not in limited[0].headers
    assert other_client.status_code == 200


def test_exempt_paths_are_never_limited(make_app: AppMaker) -> None:
    with make_app({"exclude_paths": ["/lim*"]}).test_client() as client:
        exempt = statuses(client, "/limited", 5)
        still = statuses(client, "/text", 3)
    assert exempt == [200] * 5
    assert still == [200, 200, 429]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"default_limits": "lots"}, "'lots' is not a limit"),
        ({"default_limits": {"limit": 0, "per": "1m"}}, "'limit' must be a whole number"),
        ({"default_limits": {"limit": 5, "per": "soon"}}, "'per' must be a duration"),
        ({"default_limits": {"limit": 5}}, "'per' is missing"),
        ({"default_limits": {"limit": 5, "per": "1m", "burst": 3}}, "unknown field 'burst'"),
        ({"overrides": {"GET /x": "many"}}, "GET /x: 'many' is not a limit"),
        ({"key_by": "ip"}, "'key' must be one or more of subject, api_key, address"),
        ({"trusted_proxies": ["proxy.local"]}, "'proxy.local' is not an IP address"),
        ({"storage_url": "mysql://db"}, "must be memory://, or a redis://"),
    ],
)
def test_bad_settings_stop_start_up_naming_the_setting(
    make_app: AppMaker, section: dict[str, Any], message: str
) -> None:
    with pytest.raises(chassis.SettingsError) as raised:
        make_app(section)
    text = str(raised.value)
    assert message in text
    assert f"ratelimit.{next(iter(section))}" in text or (
        f"CHASSIS_RATELIMIT__{next(iter(section)).upper()}" in text
    )


def test_a_bad_extension_in_the_spec_names_the_operation(make_app: AppMaker) -> None:
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "bad", "version": "1"},
        "paths": {
            "/x": {
                "get": {
                    "operationId": "ratelimit_views.limited",
                    "x-chassis-ratelimit": {"limit": 10, "per": "fortnight"},
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
    app = make_app(spec=spec)
    # Connexion builds its middleware (and reads the spec's operations) as the server starts.
    with pytest.raises(ValueError) as raised, app.test_client():
        pass
    text = str(raised.value)
    assert "invalid x-chassis-ratelimit on GET /x (ratelimit_views.limited)" in text
    assert "'per' must be a duration" in text


def test_two_limits_of_one_name_are_refused(make_app: AppMaker) -> None:
    twice = [{"limit": 1, "per": "1s", "name": "a"}, {"limit": 5, "per": "1m", "name": "a"}]
    with pytest.raises(chassis.SettingsError, match="two limits share the name 'a'"):
        make_app({"default_limits": twice})


def test_a_redis_url_needs_no_connection_at_start_up(make_app: AppMaker) -> None:
    # Built with Redis nowhere: the app starts; requests then fail open.
    app = make_app({"storage_url": "redis://127.0.0.1:1/0"})
    with app.test_client() as client:
        assert client.get("/limited").status_code == 200


def test_a_malformed_redis_url_stops_start_up_without_showing_it(make_app: AppMaker) -> None:
    with pytest.raises(chassis.SettingsError) as raised:
        make_app({"storage_url": "redis://:hunter2@cache:notaport/0"})
    text = str(raised.value)
    assert "CHASSIS_RATELIMIT__STORAGE_URL" in text
    assert "Port could not be cast to integer" in text
    assert "hunter2" not in text
