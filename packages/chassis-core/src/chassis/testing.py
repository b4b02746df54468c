"""pytest fixtures for services and plugins built on chassis (entry point ``pytest11``).

``make_chassis_app(spec=..., settings=..., plugins=[...])`` builds a :class:`chassis.App` (or
the class the ``chassis_app_class`` fixture or ``app_class=`` gives: :class:`chassis.AsyncApp`)
with only the plugins given (no entry-point autoloading) and only the settings given (the
``CHASSIS_*`` environment is cleared for the test). ``chassis_app`` and ``chassis_client``
build one from the ``chassis_spec``, ``chassis_settings`` and ``chassis_plugins`` fixtures,
which a ``conftest.py`` overrides::

    @pytest.fixture
    def chassis_spec():
        return Path(__file__).parent / "openapi.yaml"

    @pytest.fixture
    def chassis_plugins():
        return [my_plugin]

    def test_health(chassis_client):
        assert chassis_client.get("/healthz").status_code == 200
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from ._app import App
from ._base import BaseApp

AppFactory = Callable[..., Any]


@pytest.fixture
def chassis_app_class() -> type[BaseApp]:
    """The app class ``make_chassis_app`` builds by default; override it in a conftest (or
    parametrize it) to test a service as ``chassis.AsyncApp``."""
    return App


@pytest.fixture
def chassis_settings() -> dict[str, Any]:
    """Settings for ``chassis_app``; override it in a conftest."""
    return {}


@pytest.fixture
def chassis_plugins() -> Sequence[object] | Mapping[str, object]:
    """Plugin objects for ``chassis_app``; override it in a conftest."""
    return []


@pytest.fixture
def chassis_spec() -> str | Path | dict[str, Any] | None:
    """The OpenAPI document ``chassis_app`` serves (a path or a dict); ``None``: none."""
    return None


@pytest.fixture
def make_chassis_app(
    monkeypatch: pytest.MonkeyPatch, chassis_app_class: type[BaseApp]
) -> AppFactory:
    """A factory of isolated apps: explicit plugins and settings only.

    ``CHASSIS_*`` variables are cleared and no ``.env`` file is read (``CHASSIS_ENV_FILE=""``),
    so a developer's environment cannot change a test's outcome; a test may still set
    variables, or ``CHASSIS_ENV_FILE``/``CHASSIS_CONFIG``, itself.
    """
    for name in list(os.environ):
        if name.upper().startswith("CHASSIS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CHASSIS_ENV_FILE", "")

    def factory(
        import_name: str = "chassis_test_app",
        *,
        spec: str | Path | dict[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
        plugins: Sequence[object] | Mapping[str, object] = (),
        autoload: bool = False,
        api_options: Mapping[str, Any] | None = None,
        app_class: type[BaseApp] | None = None,
        **app_options: Any,
    ) -> Any:
        merged: dict[str, Any] = {} if autoload else {"plugins": []}
        merged.update(settings or {})
        cls = app_class or chassis_app_class
        app = cls(import_name, settings=merged, plugins=plugins, **app_options)
        if spec is not None:
            app.add_api(spec, **dict(api_options or {}))
        return app

    return factory


@pytest.fixture
def chassis_app(
    make_chassis_app: AppFactory,
    chassis_spec: str | Path | dict[str, Any] | None,
    chassis_settings: dict[str, Any],
    chassis_plugins: Sequence[object] | Mapping[str, object],
) -> Any:
    return make_chassis_app(spec=chassis_spec, settings=chassis_settings, plugins=chassis_plugins)


@pytest.fixture
def chassis_client(chassis_app: Any) -> Iterator[Any]:
    """Connexion's test client (Starlette's, httpx API), with the app's lifespan running."""
    with chassis_app.test_client() as client:
        yield client
