"""Builds the directmail service: ``chassis run directmail.service:create_app --factory``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import chassis
import chassis_sqlalchemy
from chassis_pagination import with_components
from connexion.resolver import Resolver

from . import api_async, plugin

SPEC = Path(__file__).parent / "openapi.yaml"
MIGRATIONS = "directmail:migrations"


def create_app(
    settings: Mapping[str, Any] | None = None,
    plugins: Any = (),
    *,
    app_class: type[chassis.BaseApp] = chassis.App,
) -> Any:
    """The service; installed plugins load as settings say (``CHASSIS_PLUGINS`` and sections).
    Its database is chassis-sqlalchemy's: ``CHASSIS_SQLALCHEMY__URL``."""
    given = dict(settings or {})
    # The migrations are the service's own code, not a deployment's choice.
    given["sqlalchemy"] = {"migrations": MIGRATIONS, **given.get("sqlalchemy", {})}
    app = app_class(
        __name__,
        settings={"service_name": "directmail", **given},
        plugins={
            "sqlalchemy": chassis_sqlalchemy,
            "directmail": plugin,
            **dict(_named(plugins)),
        },
    )
    # with_components: the spec's offset and limit parameters are chassis-pagination's.
    # strict_validation: unknown query parameters are a 400, not silently ignored (nor logged
    # by Connexion at ERROR, as it does for handlers taking **kwargs).
    options: dict[str, Any] = {}
    if app_class is not chassis.App:
        options["resolver"] = Resolver(function_resolver=_async_handler)
    app.add_api(with_components(SPEC), pythonic_params=True, strict_validation=True, **options)
    return app


def create_async_app(settings: Mapping[str, Any] | None = None, plugins: Any = ()) -> Any:
    """The same service as a :class:`chassis.AsyncApp` with ``async def`` handlers
    (``api_async.py``) on the async engine: ``chassis run directmail.service:create_async_app
    --factory``. A ``sqlite://`` URL is served through aiosqlite, ``postgresql+psycopg://``
    through psycopg's async mode."""
    return create_app(settings, plugins, app_class=chassis.AsyncApp)


def _async_handler(operation_id: str) -> Any:
    # The spec names directmail.api.X; the async app serves directmail.api_async.X.
    return getattr(api_async, operation_id.rsplit(".", 1)[-1])


def _named(plugins: Any) -> Any:
    if isinstance(plugins, Mapping):
        return plugins.items()
    return ((getattr(p, "__name__", repr(p)).rsplit(".", 1)[-1], p) for p in plugins)
