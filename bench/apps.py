"""App factories for ``uvicorn --factory``: the same spec and handlers, bare or on chassis.

``bare`` is what a team writes with Connexion alone; ``chassis_app`` reads its settings
(which plugins, their options) from ``CHASSIS_*`` environment variables set per scenario.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SPEC = Path(__file__).with_name("spec.yaml")


def bare() -> Any:
    import connexion

    app = connexion.FlaskApp(__name__)
    app.add_api(SPEC)
    return app


def chassis_app() -> Any:
    import chassis

    app = chassis.App(__name__)
    app.add_api(SPEC)
    return app


# -- the async-app benchmark (bench/bench_async.py) ----------------------------------
#
# One spec for every Connexion-based app, built here rather than in spec.yaml: the list route
# goes up to 1,000 items, the handlers are the sync ones (chassis.App) or their async def twins
# (the AsyncApps), and with ``secure`` both routes need a bearer JWT with scope items:read (the
# apps with every plugin on). bench/fastapi_apps.py serves the same routes with FastAPI.

SCOPE = "items:read"
"""The scope both routes require when secured (FastAPI's JWT dependency checks it too)."""

MAX_ITEMS = 1000
EVERY_PLUGIN = "tracing,metrics,optimizer,pagination,auth"
"""``CHASSIS_PLUGINS`` of the apps with every plugin on (bench_async.py adds their settings)."""


def async_spec(*, handlers: str = "async", secure: bool = False) -> dict[str, Any]:
    """``GET /items/{item_id}`` (~200 B) and ``GET /items?limit=N`` (N in 1..1000, default 100).

    ``handlers``: ``"async"`` (``async def``, for apps on the event loop) or ``"sync"``.
    """
    suffix = "_async" if handlers == "async" else ""
    security = {"security": [{"oauth": [SCOPE]}]} if secure else {}
    spec: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "bench async", "version": "1"},
        "paths": {
            "/items/{item_id}": {
                "get": {
                    "operationId": f"bench.handlers.get_item{suffix}",
                    "parameters": [
                        {
                            "name": "item_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer"},
                        }
                    ],
                    **security,
                    "responses": {
                        "200": {
                            "description": "one item (~200 bytes)",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/items": {
                "get": {
                    "operationId": f"bench.handlers.list_items{suffix}",
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_ITEMS,
                                "default": 100,
                            },
                        }
                    ],
                    **security,
                    "responses": {
                        "200": {
                            "description": "the first `limit` items (~17.8 KB for 100)",
                            "content": {
                                "application/json": {
                                    "schema": {"type": "array", "items": {"type": "object"}}
                                }
                            },
                        }
                    },
                }
            },
        },
    }
    if secure:
        spec["components"] = {
            "securitySchemes": {
                "oauth": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": "https://login.example.com/token",
                            "scopes": {SCOPE: "read items"},
                        }
                    },
                }
            }
        }
    return spec


def connexion_async() -> Any:
    """Bare ``connexion.AsyncApp``, ``async def`` handlers: what a team writes without chassis."""
    import connexion

    app = connexion.AsyncApp(__name__)
    app.add_api(async_spec(handlers="async"))
    return app


def chassis_plugins() -> Any:
    """``chassis.App`` (Flask views: the sync handlers) with the secured spec; which plugins
    load and their settings come from ``CHASSIS_*`` (bench_async.py: every plugin)."""
    import chassis

    app = chassis.App(__name__)
    app.add_api(async_spec(handlers="sync", secure=True))
    return app


def chassis_async() -> Any:
    """``chassis.AsyncApp``, ``async def`` handlers; ``CHASSIS_PLUGINS=""`` for no plugins."""
    import chassis

    app = chassis.AsyncApp(__name__)
    app.add_api(async_spec(handlers="async"))
    return app


def chassis_async_plugins() -> Any:
    """``chassis.AsyncApp``, ``async def`` handlers, the secured spec; plugins as
    :func:`chassis_plugins` (from ``CHASSIS_*``)."""
    import chassis

    app = chassis.AsyncApp(__name__)
    app.add_api(async_spec(handlers="async", secure=True))
    return app
