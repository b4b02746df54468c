"""Settings: sources and precedence, plugin sections, errors that name the variable, secrets."""

from __future__ import annotations

import json

import chassis
import pydantic
import pytest
from chassis import SettingsError
from pydantic import SecretStr


class AuditSettings(chassis.PluginSettings):
    level: int = 1
    token: SecretStr = SecretStr("")
    topics: chassis.CommaList = pydantic.Field(default_factory=list)


class Audit:
    @chassis.hookimpl
    def settings_model(self):
        return AuditSettings


@pytest.fixture
def layered(make_chassis_app, tmp_path, monkeypatch):
    """Each source sets a different subset of three settings."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "chassis.toml"
    config.write_text(
        'service_name = "from-toml"\nservice_version = "toml"\nlog_level = "ERROR"\n'
        "[audit]\nlevel = 4\n"
    )
    (tmp_path / ".env").write_text(
        "CHASSIS_SERVICE_VERSION=dotenv\nCHASSIS_LOG_LEVEL=WARNING\nUNRELATED=1\n"
    )
    monkeypatch.setenv("CHASSIS_CONFIG", str(config))
    monkeypatch.delenv("CHASSIS_ENV_FILE")  # the default: .env in the working directory
    monkeypatch.setenv("CHASSIS_LOG_LEVEL", "DEBUG")
    return make_chassis_app


def test_precedence_keywords_env_dotenv_toml_defaults(layered):
    app = layered(settings={"threads": 4}, plugins={"audit": Audit()})
    settings = app.settings
    assert settings.threads == 4  # keyword
    assert settings.log_level == "DEBUG"  # environment over .env and TOML
    assert settings.service_version == "dotenv"  # .env over TOML
    assert settings.service_name == "from-toml"  # TOML over default
    assert settings.audit.level == 4  # plugin section from TOML
    assert settings.request_id_header == "X-Request-ID"  # default


def test_keywords_win_over_everything(layered):
    app = layered(settings={"log_level": "CRITICAL", "service_name": "kw"}, plugins=[Audit()])
    assert (app.settings.log_level, app.settings.service_name) == ("CRITICAL", "kw")


def test_plugin_section_from_environment_with_nesting(make_chassis_app, monkeypatch):
    make_chassis_app()
    monkeypatch.setenv("CHASSIS_AUDIT__LEVEL", "9")
    monkeypatch.setenv("CHASSIS_AUDIT__TOPICS", "a, b,c")
    app = make_chassis_app(plugins={"audit": Audit()})
    assert app.settings.audit.level == 9
    assert app.settings.audit.topics == ["a", "b", "c"]


def test_invalid_value_names_the_variable_and_what_was_expected(make_chassis_app, monkeypatch):
    make_chassis_app()
    monkeypatch.setenv("CHASSIS_AUDIT__LEVEL", "lots")
    monkeypatch.setenv("CHASSIS_HEALTH__TIMEOUT", "-1")
    with pytest.raises(SettingsError) as error:
        make_chassis_app(plugins={"audit": Audit()})
    message = str(error.value)
    assert "CHASSIS_AUDIT__LEVEL (audit.level): Input should be a valid integer" in message
    assert "got 'lots'" in message
    assert "CHASSIS_HEALTH__TIMEOUT (health.timeout): Input should be greater than 0" in message


def test_invalid_literal_lists_the_choices(make_chassis_app):
    with pytest.raises(
        SettingsError, match=r"CHASSIS_LOG_FORMAT \(log_format\): Input should be 'text' or 'json'"
    ):
        make_chassis_app(settings={"log_format": "xml"})


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            {"settings": {"sevrice_name": "x"}},
            "CHASSIS_SEVRICE_NAME (sevrice_name): unknown setting",
        ),
        (
            {"settings": {"health": {"timeuot": 1}}},
            "CHASSIS_HEALTH__TIMEUOT (health.timeuot): unknown setting",
        ),
        (
            {"settings": {"audit": {"levle": 1}}},
            "CHASSIS_AUDIT__LEVLE (audit.levle): unknown setting",
        ),
    ],
)
def test_unknown_keys_stop_start_up(make_chassis_app, source, expected):
    with pytest.raises(SettingsError) as error:
        make_chassis_app(plugins={"audit": Audit()}, **source)
    assert expected in str(error.value)


def test_unknown_environment_variable_stops_start_up(make_chassis_app, monkeypatch):
    make_chassis_app()
    monkeypatch.setenv("CHASSIS_LOGLEVEL", "DEBUG")
    with pytest.raises(SettingsError, match="CHASSIS_LOGLEVEL: unknown setting"):
        make_chassis_app()


def test_settings_for_a_first_party_plugin_that_is_not_installed(make_chassis_app, monkeypatch):
    make_chassis_app()
    monkeypatch.setenv("CHASSIS_FLUXCAPACITOR__ENABLED", "true")
    with pytest.raises(SettingsError, match="CHASSIS_FLUXCAPACITOR__ENABLED: unknown setting"):
        make_chassis_app()


def test_missing_config_file_names_the_variable(make_chassis_app, monkeypatch, tmp_path):
    make_chassis_app()
    monkeypatch.setenv("CHASSIS_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match=r"CHASSIS_CONFIG=.*no such file"):
        make_chassis_app()


def test_secrets_are_masked(make_chassis_app):
    app = make_chassis_app(
        settings={
            "audit": {"token": "s3cret"},
            "health": {"database_url": "postgresql://u:pw@h/d"},
        },
        plugins={"audit": Audit()},
    )
    assert app.settings.audit.token.get_secret_value() == "s3cret"
    dumped = json.dumps(app.settings.model_dump(mode="json"))
    assert "s3cret" not in dumped and "pw@" not in dumped
    assert "s3cret" not in repr(app.settings) and "pw@" not in str(app.settings)


def test_settings_object_is_accepted_as_keywords(make_chassis_app):
    app = make_chassis_app(settings=chassis.Settings(service_name="typed", plugins=[]))
    assert app.settings.service_name == "typed"


def test_settings_object_with_plugin_sections_in_the_config_file(
    make_chassis_app, monkeypatch, tmp_path
):
    config = tmp_path / "chassis.toml"
    config.write_text("[health]\ntimeout = 1.5\n[audit]\nlevel = 3\n")
    monkeypatch.setenv("CHASSIS_CONFIG", str(config))

    settings = chassis.Settings(service_name="typed")  # a kernel-only view of the sources
    app = make_chassis_app(settings=settings, plugins={"audit": Audit()})

    assert (app.settings.service_name, app.settings.health.timeout) == ("typed", 1.5)
    assert app.settings.audit.level == 3


def test_a_config_file_that_is_not_toml_names_the_variable(make_chassis_app, monkeypatch, tmp_path):
    config = tmp_path / "broken.toml"
    config.write_text("[health\ntimeout = 1\n")
    monkeypatch.setenv("CHASSIS_CONFIG", str(config))
    with pytest.raises(SettingsError, match=r"CHASSIS_CONFIG='.*broken.toml': .*line 1"):
        make_chassis_app()


def test_env_file_names_another_dotenv_file_and_empty_reads_none(
    make_chassis_app, monkeypatch, tmp_path
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("CHASSIS_SERVICE_NAME=from-dotenv\n")
    (tmp_path / "prod.env").write_text("CHASSIS_SERVICE_NAME=from-prod-env\n")

    assert make_chassis_app().settings.service_name == "chassis-service"  # the kit reads none
    monkeypatch.setenv("CHASSIS_ENV_FILE", "prod.env")
    assert make_chassis_app().settings.service_name == "from-prod-env"
    monkeypatch.delenv("CHASSIS_ENV_FILE")
    assert make_chassis_app().settings.service_name == "from-dotenv"
    monkeypatch.setenv("CHASSIS_ENV_FILE", "missing.env")
    with pytest.raises(SettingsError, match=r"CHASSIS_ENV_FILE='missing.env': no such file"):
        make_chassis_app()


def test_connexion_plus_keywords_map_onto_settings(make_chassis_app, spec):
    app = make_chassis_app(use_cors=True)
    assert app.settings.cors.enabled and app.settings.cors.allow_origins == ["*"]
    tracer = object()
    with pytest.raises(chassis.PluginError, match="CHASSIS_PLUGINS does not list it"):
        make_chassis_app(use_tracer=tracer)


def test_a_plugin_passed_as_an_object_may_be_switched_on_by_keyword(make_chassis_app):
    class Metrics:
        @chassis.hookimpl
        def configure_app(self, app):
            app.extras["metrics-on"] = True

    # make_chassis_app lists no installed plugin; the object is passed explicitly.
    app = make_chassis_app(plugins={"metrics": Metrics()}, use_metric=True)
    assert app.extras["metrics-on"] is True


class Strict(chassis.PluginSettings):
    password: SecretStr = pydantic.Field(SecretStr("x" * 12), min_length=12)


class StrictPlugin:
    @chassis.hookimpl
    def settings_model(self):
        return Strict


def test_an_invalid_secret_is_reported_without_echoing_it(make_chassis_app):
    with pytest.raises(SettingsError) as error:
        make_chassis_app(
            plugins={"strict": StrictPlugin()}, settings={"strict": {"password": "hunter2"}}
        )
    assert "CHASSIS_STRICT__PASSWORD (strict.password)" in str(error.value)
    assert "hunter2" not in str(error.value)


def test_an_invalid_value_is_echoed_without_url_credentials(make_chassis_app, monkeypatch):
    monkeypatch.setenv("CHASSIS_LOG_FORMAT", "https://robot:pa55word@logs.example/v1")
    with pytest.raises(SettingsError) as error:
        make_chassis_app()
    assert "CHASSIS_LOG_FORMAT (log_format)" in str(error.value)
    assert "got 'https://***@logs.example/v1'" in str(error.value)
    assert "pa55word" not in str(error.value)


def test_log_level_in_any_case(make_chassis_app):
    assert make_chassis_app(settings={"log_level": "debug"}).settings.log_level == "DEBUG"


def test_a_bad_value_in_the_toml_file_names_the_file_and_key(
    make_chassis_app, monkeypatch, tmp_path
):
    make_chassis_app()
    config = tmp_path / "service.toml"
    config.write_text("[health]\ntimeout = -1\n")
    monkeypatch.setenv("CHASSIS_CONFIG", str(config))
    with pytest.raises(chassis.SettingsError) as failure:
        make_chassis_app()
    message = str(failure.value)
    assert f"(from health.timeout in {config} (CHASSIS_CONFIG))" in message


def test_a_bad_value_given_as_a_keyword_names_the_keyword(make_chassis_app):
    with pytest.raises(
        chassis.SettingsError, match=r"from App\(settings=\.\.\.\) key 'health.timeout'"
    ):
        make_chassis_app(settings={"health": {"timeout": 0}})


def test_the_environment_is_still_named_by_its_variable(make_chassis_app, monkeypatch):
    make_chassis_app()
    monkeypatch.setenv("CHASSIS_HEALTH__TIMEOUT", "-3")
    with pytest.raises(chassis.SettingsError) as failure:
        make_chassis_app()
    assert "CHASSIS_HEALTH__TIMEOUT (health.timeout): " in str(failure.value)
    assert "(from " not in str(failure.value)


def test_a_connexion_plus_keyword_for_a_missing_plugin_names_the_keyword(
    make_chassis_app, monkeypatch
):
    monkeypatch.setattr("chassis._plugins.discover", dict)  # nothing installed
    with pytest.raises(chassis.PluginError) as failure:
        make_chassis_app(use_optimizer=True, autoload=True)
    message = str(failure.value)
    assert "enabled by the keyword argument use_optimizer=True" in message
    assert "pip install chassis-optimizer" in message
