"""The plugin as a user meets it: entry point, settings and their errors, public names."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import chassis
import chassis_optimizer
import optimizer_views
import pytest
from chassis_optimizer import FlaskOptimize, optimize, set_cache_timeout
from chassis_optimizer._decorators import route_options
from chassis_test_support import run_python
from optimizer_support import SPEC, AppMaker


def test_entry_point_is_registered() -> None:
    (found,) = [ep for ep in entry_points(group="chassis.plugins") if ep.name == "optimizer"]
    assert found.value == "chassis_optimizer"
    assert found.dist is not None and found.dist.name == "chassis-optimizer"


def test_installed_plugin_loads_from_settings(make_chassis_app: Any) -> None:
    app = make_chassis_app(settings={"plugins": ["optimizer"]}, spec=SPEC)
    assert [info.name for info in app.active_plugins] == ["optimizer"]
    assert chassis_optimizer.get_optimizer(app) is not None
    with app.test_client() as client:
        assert (
            client.get("/items", headers={"Accept-Encoding": "br"}).headers["content-encoding"]
            == "br"
        )


def test_connexion_plus_keyword(make_chassis_app: Any) -> None:
    app = make_chassis_app(
        settings={"plugins": ["optimizer"]},
        spec=SPEC,
        use_optimizer={"compress": False},
    )
    assert app.settings.optimizer.compress is False  # type: ignore[attr-defined]
    with app.test_client() as client:
        assert (
            "content-encoding"
            not in client.get("/items", headers={"Accept-Encoding": "gzip"}).headers
        )


def test_settings_from_the_environment(
    make_chassis_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_chassis_app()  # clears CHASSIS_* first
    monkeypatch.setenv("CHASSIS_OPTIMIZER__COMPRESS_ALGORITHMS", "br,gzip")
    monkeypatch.setenv("CHASSIS_OPTIMIZER__CACHE_URL", "memory://")
    monkeypatch.setenv("CHASSIS_OPTIMIZER__CREDENTIAL_HEADERS", "Authorization,X-Session")
    app = chassis.App("t", settings={"plugins": []}, plugins=[chassis_optimizer])
    settings = app.settings.optimizer  # type: ignore[attr-defined]
    assert settings.compress_algorithms == ["br", "gzip"]
    assert settings.credential_headers == ["Authorization", "X-Session"]
    assert chassis_optimizer.get_optimizer(app).backend.name == "memory"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"compress_algorithms": ["gzip", "lz4"]}, "CHASSIS_OPTIMIZER__COMPRESS_ALGORITHMS"),
        ({"zstd_level": 30}, "CHASSIS_OPTIMIZER__ZSTD_LEVEL"),
        ({"compress_types": ["json"]}, "CHASSIS_OPTIMIZER__COMPRESS_TYPES"),
        ({"cache_ttl": 0}, "CHASSIS_OPTIMIZER__CACHE_TTL"),
        ({"cache_max_entries": 0}, "CHASSIS_OPTIMIZER__CACHE_MAX_ENTRIES"),
        ({"cache_timeout": -1}, "CHASSIS_OPTIMIZER__CACHE_TIMEOUT"),
        ({"compres": True}, "CHASSIS_OPTIMIZER__COMPRES"),
    ],
)
def test_invalid_settings_name_the_variable(
    make_app: AppMaker, settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(chassis.SettingsError, match=message):
        make_app(settings)


def test_cache_url_errors_name_the_setting_and_hide_the_url(make_app: AppMaker) -> None:
    with pytest.raises(chassis.PluginError) as caught:
        make_app({"cache_url": "http://user:hunter2@cache.internal:6379"})
    text = str(caught.value)
    assert "CHASSIS_OPTIMIZER__CACHE_URL" in text
    assert "redis://" in text
    assert "hunter2" not in text


def test_invalid_redis_url_stops_start_up(make_app: AppMaker) -> None:
    with pytest.raises(chassis.PluginError) as caught:
        make_app({"cache_url": "redis://:hunter2@localhost:notaport/0"})
    text = str(caught.value)
    assert "CHASSIS_OPTIMIZER__CACHE_URL" in text
    assert "not a valid Redis URL" in text
    assert "hunter2" not in text


def test_secret_cache_url_is_masked_when_settings_are_printed(make_app: AppMaker) -> None:
    app = make_app({"cache_url": "redis://:hunter2@127.0.0.1:1/0"})
    assert "hunter2" not in repr(app.settings)
    assert "hunter2" not in str(app.settings.model_dump())


def test_decorators_work_with_and_without_parentheses() -> None:
    def view() -> None: ...

    assert route_options(FlaskOptimize.do_not_minify()(view)) == {"minify": False}
    assert route_options(FlaskOptimize.do_not_compress(view)) == {
        "minify": False,
        "compress": False,
    }
    assert route_options(set_cache_timeout(view)) == {
        "minify": False,
        "compress": False,
        "cache": 86400,
    }

    def other() -> None: ...

    options = route_options(optimize(cache=120, shared=True, vary=["Accept-Language"])(other))
    assert options == {"cache": 120, "shared": True, "vary": ("Accept-Language",)}
    assert route_options(FlaskOptimize.set_cache_timeout(0)(other))["cache"] is False
    with pytest.raises(ValueError, match="whole number of seconds"):
        set_cache_timeout(-1)


def test_decorator_options_survive_functools_wraps() -> None:
    import functools

    @set_cache_timeout(30)
    def view() -> None: ...

    @functools.wraps(view)
    def wrapper() -> None: ...

    FlaskOptimize.do_not_compress(wrapper)
    assert route_options(view) == {"cache": 30}  # the wrapped function is not changed
    assert route_options(wrapper) == {"cache": 30, "compress": False}


def test_only_get_operations_are_cached(make_app: AppMaker) -> None:
    with make_app({"cache_all": True}).test_client() as client:
        client.post("/items", json={})
        response = client.post("/items", json={})

    assert optimizer_views.calls["post_items"] == 2
    assert "cache-control" not in response.headers
    assert "cache-status" not in response.headers


def test_a_second_api_with_a_base_path(make_chassis_app: Any) -> None:
    app = make_chassis_app(plugins={"optimizer": chassis_optimizer})
    app.add_api(SPEC, base_path="/v1", name="v1")
    app.add_api(SPEC, base_path="/v2", name="v2")
    with app.test_client() as client:
        client.get("/v1/cached")
        client.get("/v1/cached")
        client.get("/v2/cached")
        hit = client.get("/v2/cached")

    assert optimizer_views.calls["cached_items"] == 2
    assert hit.headers["cache-status"].startswith("chassis; hit")


def test_the_plugin_module_imports_nothing_heavy() -> None:
    code = (
        "import sys; import chassis\n"
        "before = set(sys.modules)\n"
        "import chassis_optimizer\n"
        "heavy = {'brotli', 'zstandard', 'orjson', 'minify_html', 'redis', 'prometheus_client'}\n"
        "print(sorted(heavy & (set(sys.modules) - before)))\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


class _Stamp:
    """A plugin with ``wrap_response``: the kernel then wraps every handler."""

    @chassis.hookimpl
    def wrap_response(self, result: Any) -> None:
        result.headers["X-Stamped"] = "1"


def test_decorators_seen_through_the_kernels_handler_wrapper(make_app: AppMaker) -> None:
    with make_app(plugins={"stamp": _Stamp()}).test_client() as client:
        client.get("/cached")
        hit = client.get("/cached")
        plain = client.get("/uncompressed", headers={"Accept-Encoding": "gzip"})

    assert hit.headers["x-stamped"] == "1"
    assert hit.headers["cache-status"].startswith("chassis; hit")
    assert optimizer_views.calls["cached_items"] == 1
    assert "content-encoding" not in plain.headers


@pytest.mark.flask_only
def test_orjson_gives_way_to_a_json_provider_the_application_sets(make_app: AppMaker) -> None:
    from flask.json.provider import DefaultJSONProvider

    class Indented(DefaultJSONProvider):
        def dumps(self, obj: Any, **kwargs: Any) -> str:
            return super().dumps(obj, indent=4, **kwargs)

    app = make_app()
    with app.test_client() as client:
        compact = client.get("/items?limit=2", headers={"Accept-Encoding": "identity"}).text
    assert "\n    " not in compact
    app = make_app()
    app.app.json = Indented(app.app)
    with app.test_client() as client:
        chosen = client.get("/items?limit=2", headers={"Accept-Encoding": "identity"}).text
    assert "\n    " in chosen  # the application's provider, not orjson
