"""Bad input stops start-up with a message naming the setting; clients are found by name."""

from __future__ import annotations

import chassis
import chassis_client
import pytest
from client_spec import SPEC


def _build(make_chassis_app, client_settings, **options):
    return make_chassis_app(
        spec=SPEC, settings={"client": client_settings}, plugins=[chassis_client], **options
    )


@pytest.mark.parametrize(
    ("section", "variable", "message"),
    [
        ({"base_url": "ftp://billing"}, "CHASSIS_CLIENT__SERVICES__BILLING__BASE_URL", "http"),
        ({"base_url": "billing:8080"}, "CHASSIS_CLIENT__SERVICES__BILLING__BASE_URL", "http"),
        ({"base_url": "http://"}, "CHASSIS_CLIENT__SERVICES__BILLING__BASE_URL", "host"),
        (
            {"base_url": "http://bill ing/v1"},
            "CHASSIS_CLIENT__SERVICES__BILLING__BASE_URL",
            "not a valid URL",
        ),
        ({"base_url": "http://b/?x=1"}, "CHASSIS_CLIENT__SERVICES__BILLING__BASE_URL", "query"),
        (
            {"base_url": "http://b", "timeout": {"connect": 0}},
            "CHASSIS_CLIENT__SERVICES__BILLING__TIMEOUT__CONNECT",
            "greater than 0",
        ),
        (
            {"base_url": "http://b", "timeout": {"total": 0}},
            "CHASSIS_CLIENT__SERVICES__BILLING__TIMEOUT__TOTAL",
            "greater than 0",
        ),
        ({"timeout": {"read": 1}}, "CHASSIS_CLIENT__SERVICES__BILLING__BASE_URL", "required"),
        (
            {"base_url": "http://b", "auth": {"client_id": "me"}},
            "CHASSIS_CLIENT__SERVICES__BILLING__AUTH",
            "client_secret",
        ),
        (
            {"base_url": "http://b", "retry": {"statuses": [700]}},
            "CHASSIS_CLIENT__SERVICES__BILLING__RETRY__STATUSES",
            "700",
        ),
    ],
)
def test_bad_service_settings_stop_start_up_naming_the_setting(
    make_chassis_app, section, variable, message
):
    with pytest.raises(chassis.SettingsError) as raised:
        _build(make_chassis_app, {"services": {"billing": section}})
    text = str(raised.value)
    assert variable in text
    assert message in text


def test_settings_come_from_environment_variables(make_chassis_app, monkeypatch):
    app = make_chassis_app(spec=SPEC, plugins=[chassis_client])  # clears CHASSIS_*
    monkeypatch.setenv("CHASSIS_CLIENT__SERVICES__BILLING__BASE_URL", "http://billing:8080/v1")
    monkeypatch.setenv("CHASSIS_CLIENT__SERVICES__BILLING__TIMEOUT__READ", "3.5")
    monkeypatch.setenv("CHASSIS_CLIENT__SERVICES__BILLING__HEADERS", '{"X-Api-Version": "2"}')
    monkeypatch.setenv("CHASSIS_CLIENT__SERVICES__BILLING__AUTH__TOKEN", "s3cret")
    monkeypatch.setenv("CHASSIS_CLIENT__SERVICES__BILLING__RETRY__STATUSES", "503, 504")
    monkeypatch.setenv("CHASSIS_CLIENT__SERVICES__BILLING__BREAKER__FAILURE_STATUSES", "[500]")
    app = make_chassis_app(spec=SPEC, plugins=[chassis_client])
    billing = app.settings.client.services["billing"]
    assert billing.base_url == "http://billing:8080/v1"
    assert billing.timeout.read == 3.5
    assert billing.headers == {"X-Api-Version": "2"}
    assert billing.retry.statuses == [503, 504]
    assert billing.breaker.failure_statuses == [500]
    assert "s3cret" not in repr(app.settings)


def test_a_timeout_of_zero_from_the_environment_names_the_variable(make_chassis_app, monkeypatch):
    make_chassis_app()
    monkeypatch.setenv("CHASSIS_CLIENT__SERVICES__BILLING__BASE_URL", "http://billing")
    monkeypatch.setenv("CHASSIS_CLIENT__SERVICES__BILLING__TIMEOUT__READ", "0")
    with pytest.raises(
        chassis.SettingsError, match="CHASSIS_CLIENT__SERVICES__BILLING__TIMEOUT__READ"
    ):
        make_chassis_app(spec=SPEC, plugins=[chassis_client])


def test_a_required_service_that_is_not_configured_stops_start_up(make_chassis_app):
    # Raised in the plugin's configure_app: the kernel names the plugin before the message.
    with pytest.raises(chassis.PluginError) as raised:
        _build(
            make_chassis_app,
            {"services": {"billing": {"base_url": "http://b"}}, "require": "billing,address"},
        )
    text = str(raised.value)
    assert "CHASSIS_CLIENT__SERVICES__ADDRESS__BASE_URL" in text
    assert "CHASSIS_CLIENT__REQUIRE" in text
    assert "billing" in text  # the services that are configured


def test_the_application_can_require_its_services(make_chassis_app):
    app = _build(make_chassis_app, {"services": {"billing": {"base_url": "http://b"}}})
    chassis_client.require(app, "billing", "BILLING")
    with pytest.raises(chassis.SettingsError, match="CHASSIS_CLIENT__SERVICES__LEDGER__BASE_URL"):
        chassis_client.require(app, "ledger")


def test_requiring_services_without_the_plugin_says_so(make_chassis_app):
    app = make_chassis_app(spec=SPEC)
    with pytest.raises(chassis.SettingsError, match="client plugin is not active"):
        chassis_client.require(app, "billing")


def test_an_unknown_service_name_names_the_setting_to_add(make_chassis_app):
    app = _build(make_chassis_app, {"services": {"billing": {"base_url": "http://b"}}})
    with app.test_client():
        assert chassis_client.client("Billing", app=app).base_url == "http://b"
        with pytest.raises(chassis_client.UnknownService) as raised:
            chassis_client.client("ledger", app=app)
    assert "CHASSIS_CLIENT__SERVICES__LEDGER__BASE_URL" in str(raised.value)
    assert "billing" in str(raised.value)


def test_clients_exist_only_while_the_app_runs(make_chassis_app):
    app = _build(make_chassis_app, {"services": {"billing": {"base_url": "http://b"}}})
    with pytest.raises(RuntimeError, match="made when it starts"):
        chassis_client.client("billing", app=app)
    with app.test_client():
        sync = chassis_client.client("billing", app=app)
        assert not sync.is_closed
    assert sync.is_closed
    with pytest.raises(RuntimeError, match="made when it starts"):
        chassis_client.async_client("billing", app=app)


def test_outside_a_request_the_app_must_be_given(make_chassis_app):
    with pytest.raises(RuntimeError, match="pass the app"):
        chassis_client.client("billing")


def test_without_services_the_plugin_adds_nothing_to_the_request_path(make_chassis_app):
    app = _build(make_chassis_app, {})
    assert not [layer for layer in app.stack() if layer["owner"] == "client"]
    with app.test_client() as client:
        assert not [c for c in client.get("/readyz").json()["checks"] if "downstream" in c]
    configured = _build(make_chassis_app, {"services": {"billing": {"base_url": "http://b"}}})
    assert [layer["name"] for layer in configured.stack() if layer["owner"] == "client"] == [
        "DeadlineMiddleware"
    ]
