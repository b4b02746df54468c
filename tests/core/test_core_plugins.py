"""The plugin manager: entry points, enablement before import, errors that name the plugin."""

from __future__ import annotations

import logging
import sys

import chassis
import pytest
from chassis import PluginError, hookspecs

RECORDER = """
import chassis
CALLS = []

@chassis.hookimpl
def configure_app(app, settings):
    CALLS.append(("{name}", id(app)))
    app.extras.setdefault("order", []).append("{name}")
"""

EXPLODES = """
raise ImportError("this plugin must never be imported")
"""


@pytest.fixture
def installed(fake_distribution):
    fake_distribution(
        "acme-alpha",
        "1.0.0",
        plugins={"alpha": "acme_alpha"},
        modules={"acme_alpha": RECORDER.format(name="alpha")},
    )
    fake_distribution(
        "acme-beta",
        "2.3.4",
        plugins={"beta": "acme_beta"},
        modules={"acme_beta": RECORDER.format(name="beta")},
    )
    fake_distribution(
        "acme-broken", "0.9.1", plugins={"broken": "acme_broken"}, modules={"acme_broken": EXPLODES}
    )


def test_listed_plugins_load_in_the_listed_order(make_chassis_app, installed):
    app = make_chassis_app(settings={"plugins": ["beta", "alpha"]})
    assert app.extras["order"] == ["beta", "alpha"]
    infos = {info.name: info for info in app.active_plugins}
    assert infos["beta"].distribution == "acme-beta" and infos["beta"].version == "2.3.4"
    assert infos["alpha"].hooks == ["configure_app"]


@pytest.mark.parametrize(
    "settings",
    [
        {"plugins": ["alpha"]},
        {"plugins": None, "disabled_plugins": ["broken"]},
        {"plugins": None, "broken": {"enabled": False}},
    ],
    ids=["allowlist", "disabled-list", "enabled-false"],
)
def test_a_disabled_plugin_is_never_imported(make_chassis_app, installed, settings):
    app = make_chassis_app(settings=settings)
    assert "acme_broken" not in sys.modules
    assert "broken" not in [info.name for info in app.active_plugins]
    assert app.plugin_infos["broken"].reason


def test_disabled_by_environment_variable(make_chassis_app, installed, monkeypatch):
    make_chassis_app()
    others = [n for n in _installed_names() if n not in ("alpha", "beta", "broken")]
    monkeypatch.setenv("CHASSIS_DISABLED_PLUGINS", ",".join(["broken", "beta", *others]))
    app = make_chassis_app(autoload=True)
    assert [info.name for info in app.active_plugins] == ["alpha"]
    assert "acme_broken" not in sys.modules


def test_every_installed_plugin_loads_when_unset(make_chassis_app, fake_distribution):
    fake_distribution(
        "acme-alpha",
        plugins={"alpha": "acme_alpha"},
        modules={"acme_alpha": RECORDER.format(name="alpha")},
    )
    app = make_chassis_app(
        autoload=True,
        settings={
            "plugins": None,
            "disabled_plugins": [name for name in _installed_names() if name != "alpha"],
        },
    )
    assert [info.name for info in app.active_plugins] == ["alpha"]


def _installed_names():
    from importlib.metadata import entry_points

    return [ep.name for ep in entry_points(group="chassis.plugins")]


def test_enabling_a_broken_plugin_names_plugin_distribution_version_and_cause(
    make_chassis_app, installed
):
    with pytest.raises(PluginError) as error:
        make_chassis_app(settings={"plugins": ["broken"]})
    message = str(error.value)
    assert "'broken'" in message and "acme-broken 0.9.1" in message
    assert "ImportError: this plugin must never be imported" in message


def test_enabling_a_missing_plugin_says_what_to_install(make_chassis_app, installed):
    with pytest.raises(
        PluginError, match="'nosuch' is enabled by CHASSIS_PLUGINS but is not installed"
    ):
        make_chassis_app(settings={"plugins": ["nosuch"]})


def test_a_missing_first_party_plugin_names_its_distribution(make_chassis_app, monkeypatch):
    monkeypatch.setattr("chassis._plugins.discover", dict)
    with pytest.raises(PluginError, match="pip install chassis-metrics"):
        make_chassis_app(settings={"plugins": ["metrics"]})


def test_a_misspelled_hook_is_an_error(make_chassis_app):
    class Typo:
        @chassis.hookimpl
        def configure_ap(self, app):
            pass

    with pytest.raises(PluginError, match="configure_ap"):
        make_chassis_app(plugins=[Typo()])


def test_a_failing_hook_names_its_plugin(make_chassis_app):
    class Fails:
        @chassis.hookimpl
        def configure_app(self, app):
            raise ValueError("bad wiring")

    with pytest.raises(
        PluginError, match="plugin 'fails' failed in configure_app: ValueError: bad wiring"
    ):
        make_chassis_app(plugins=[Fails()])


def test_a_settings_model_that_is_not_a_model_is_an_error(make_chassis_app):
    class Wrong:
        @chassis.hookimpl
        def settings_model(self):
            return dict

    with pytest.raises(
        PluginError, match="'wrong': settings_model\\(\\) must return a pydantic model"
    ):
        make_chassis_app(plugins=[Wrong()])


def test_each_app_has_its_own_plugin_manager(make_chassis_app, installed):
    first = make_chassis_app(settings={"plugins": ["alpha"]})
    second = make_chassis_app(settings={"plugins": ["beta"]})
    assert first.plugin_manager is not second.plugin_manager
    assert first.extras["order"] == ["alpha"] and second.extras["order"] == ["beta"]


def test_explicit_plugins_can_be_switched_off_by_settings(make_chassis_app):
    class Extra:
        @chassis.hookimpl
        def configure_app(self, app):
            app.extras["extra"] = True

    app = make_chassis_app(plugins={"extra": Extra()}, settings={"extra": {"enabled": False}})
    assert "extra" not in app.extras
    assert app.plugin_infos["extra"].enabled is False


def test_start_up_logs_the_active_plugins_with_versions(make_chassis_app, installed, caplog):
    with caplog.at_level(logging.INFO, logger="chassis"):
        make_chassis_app(settings={"plugins": ["alpha", "beta"], "service_name": "svc"})
    assert "svc 0.0.0 on chassis" in caplog.text
    assert "plugins: alpha (acme-alpha 1.0.0), beta (acme-beta 2.3.4)" in caplog.text


HOOKS = [name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "chassis_spec")]


def test_every_hook_is_specified():
    assert set(HOOKS) >= {
        "configure_app",
        "register_error_handlers",
        "wrap_response",
        "health_info",
    }


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_documented_like_pytest(name):
    import inspect

    function = getattr(hookspecs, name)
    doc = inspect.getdoc(function) or ""
    for parameter in inspect.signature(function).parameters:
        assert f":param {parameter}:" in doc, f"{name}: argument {parameter} undocumented"
    assert ":return:" in doc, f"{name}: return value undocumented"
    assert "Called" in doc, f"{name}: does not say when it is called"
    assert "Example::" in doc, f"{name}: has no example"


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_in_the_plugin_guide(name):
    from pathlib import Path

    guide = Path(__file__).parents[2] / "docs" / "plugins.md"
    assert f"`{name}(" in guide.read_text(), f"docs/plugins.md does not document {name}"


def test_startup_and_shutdown_hooks_run_with_the_servers_lifespan(make_chassis_app, spec):
    events = []

    class First:
        @chassis.hookimpl
        async def startup(self, app):
            events.append(("start", "first", app.settings.service_name))

        @chassis.hookimpl
        def shutdown(self):
            events.append(("stop", "first"))

    class Second:
        @chassis.hookimpl
        def startup(self):
            events.append(("start", "second"))

        @chassis.hookimpl
        async def shutdown(self, app):
            raise RuntimeError("pool already closed")

    app = make_chassis_app(spec=spec, plugins={"first": First(), "second": Second()})
    with app.test_client() as client:
        assert events == [("start", "first", "chassis-service"), ("start", "second")]
        client.get("/items/1")
    assert events[-1] == ("stop", "first")  # the failing shutdown did not stop the others


def test_a_failing_startup_stops_the_server_naming_the_plugin(make_chassis_app, spec):
    class Broken:
        @chassis.hookimpl
        def startup(self):
            raise ConnectionError("no route to cache")

    app = make_chassis_app(spec=spec, plugins={"broken": Broken()})
    with pytest.raises(RuntimeError, match="plugin 'broken' failed in startup"), app.test_client():
        pass


def test_a_failing_startup_stops_what_already_started(make_chassis_app, spec):
    events = []

    class Pool:
        @chassis.hookimpl
        def startup(self):
            events.append("pool up")

        @chassis.hookimpl
        def shutdown(self):
            events.append("pool down")

    class Broken:
        @chassis.hookimpl
        def startup(self):
            raise ConnectionError("cannot reach redis://default:s3cr3t@cache:6379")

        @chassis.hookimpl
        def shutdown(self):
            events.append("broken down")  # never: its startup did not complete

    app = make_chassis_app(spec=spec, plugins={"pool": Pool(), "broken": Broken()})
    with pytest.raises(RuntimeError) as failure, app.test_client():
        pass
    assert events == ["pool up", "pool down"]
    assert "plugin 'broken' failed in startup" in str(failure.value)
    assert "s3cr3t" not in str(failure.value)


def test_active_plugins_follow_registration_order(make_chassis_app, installed):
    app = make_chassis_app(settings={"plugins": ["beta", "alpha"]}, plugins={"extra": object()})
    assert [info.name for info in app.active_plugins] == ["beta", "alpha", "extra"]


def test_wrapper_hooks_run_around_set_up_and_start_up(make_chassis_app, spec):
    events = []

    class Inner:
        @chassis.hookimpl
        def configure_app(self):
            events.append("inner configure")

        @chassis.hookimpl
        async def startup(self):
            events.append("inner startup")

    class Outer:
        @chassis.hookimpl(wrapper=True)
        def configure_app(self, app):
            events.append("before configure")
            result = yield
            events.append("after configure")
            return result

        @chassis.hookimpl(wrapper=True)
        def startup(self):
            events.append("before startup")
            result = yield
            events.append("after startup")
            return result

    app = make_chassis_app(spec=spec, plugins={"outer": Outer(), "inner": Inner()})
    assert events == ["before configure", "inner configure", "after configure"]
    with app.test_client():
        pass
    assert events[3:] == ["before startup", "inner startup", "after startup"]


def test_tryfirst_and_trylast_order_set_up_hooks(make_chassis_app):
    order = []

    def plugin(name, **marks):
        class Plugin:
            @chassis.hookimpl(**marks)
            def configure_app(self):
                order.append(name)

        return Plugin()

    make_chassis_app(
        plugins={
            "last": plugin("last", trylast=True),
            "a": plugin("a"),
            "first": plugin("first", tryfirst=True),
            "b": plugin("b"),
        }
    )
    assert order == ["first", "a", "b", "last"]


def test_teardown_is_last_in_first_out_around_the_apps_own_lifespan(make_chassis_app, spec):
    import contextlib

    events = []

    @contextlib.asynccontextmanager
    async def lifespan(app):
        events.append("app start")
        yield
        events.append("app stop")

    class Pool:
        @chassis.hookimpl
        async def startup(self):
            events.append("pool start")

        @chassis.hookimpl
        async def shutdown(self):
            events.append("pool stop")

    class Flusher:
        @chassis.hookimpl
        def startup(self):
            events.append("flusher start")

        @chassis.hookimpl
        def shutdown(self):
            events.append("flusher stop")

    app = make_chassis_app(
        spec=spec, plugins={"pool": Pool(), "flusher": Flusher()}, lifespan=lifespan
    )
    with app.test_client():
        events.append("serving")
    assert events == [
        "app start",
        "pool start",
        "flusher start",
        "serving",
        "flusher stop",
        "pool stop",
        "app stop",
    ]


def test_hooks_get_their_own_plugin_context(make_chassis_app, spec):
    class Counter(chassis.PluginSettings):
        start: int = 0

    class Counting:
        @chassis.hookimpl
        def settings_model(self):
            return Counter

        @chassis.hookimpl
        def configure_app(self, plugin):
            plugin.state = {"count": plugin.settings.start}

        @chassis.hookimpl
        def health_info(self, plugin):
            plugin.state["count"] += 1
            return {plugin.name: {"status": "up", "count": plugin.state["count"]}}

    one = make_chassis_app(spec=spec, plugins={"counter": Counting()}, settings={"counter": {}})
    two = make_chassis_app(
        spec=spec, plugins={"tally": Counting()}, settings={"tally": {"start": 40}}
    )
    with one.test_client() as first, two.test_client() as second:
        assert first.get("/readyz").json()["checks"]["counter"]["count"] == 1
        assert second.get("/readyz").json()["checks"]["tally"]["count"] == 41
        assert first.get("/readyz").json()["checks"]["counter"]["count"] == 2
    assert one.plugin_context("counter").state == {"count": 2}
    assert two.plugin_context(Counting) is None


def test_a_spec_error_stops_start_up_with_its_message(make_chassis_app):
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "twice", "version": "1"},
        "paths": {
            "/a": {
                "get": {
                    "operationId": "core_handlers.get_item",
                    "responses": {"200": {"description": "ok"}},
                }
            },
            "/b": {
                "get": {
                    "operationId": "no_such_module.handler",
                    "responses": {"200": {"description": "ok"}},
                }
            },
        },
    }
    app = make_chassis_app(spec=spec)
    with pytest.raises(Exception, match="no_such_module"), app.test_client():
        pass
