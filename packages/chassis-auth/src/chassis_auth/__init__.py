"""chassis-auth: OAuth2 / OpenID Connect bearer JWTs and API keys for chassis services.

Installed and enabled, the ``auth`` plugin makes every ``bearer``, ``oauth2``,
``openIdConnect`` and ``apiKey`` security scheme of the app's specs resolve to its own
validator (no ``x-*InfoFunc`` in the spec): JWT signatures are checked against the issuer's
JSON Web Key Set (from ``jwks_url`` or OpenID Connect discovery), claims against the
``[auth]`` settings, API keys against ``api_keys``. Refusals are problem+json with RFC 6750
``WWW-Authenticate`` challenges. See the package README for every setting.

This module stays light: PyJWT, cryptography and httpx load in ``configure_app``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import chassis

from ._errors import REASONS, AuthUnavailable, InsufficientScope, InvalidToken
from ._settings import DEFAULT_ALGORITHMS, AuthSettings

if TYPE_CHECKING:
    from ._authenticator import Authenticator

__all__ = [
    "DEFAULT_ALGORITHMS",
    "REASONS",
    "AuthSettings",
    "AuthUnavailable",
    "Authenticator",
    "InsufficientScope",
    "InvalidToken",
    "get_authenticator",
]

chassis_plugin_name = "auth"
"""The plugin's name when passed as an object: ``App(plugins=[chassis_auth])``."""


def __getattr__(name: str) -> Any:
    if name == "Authenticator":
        from ._authenticator import Authenticator

        return Authenticator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_authenticator(app: Any) -> Authenticator | None:
    """The :class:`Authenticator` of ``app``, or ``None`` when the plugin is not active.

    Use it to check credentials outside Connexion's security middleware::

        info = await chassis_auth.get_authenticator(app).validate_token(token)
    """
    find = getattr(app, "plugin_context", None)
    context = find(__name__) if find is not None else None
    found: Authenticator | None = context.state if context is not None else None
    return found


# -- hooks ------------------------------------------------------------------------------


@chassis.hookimpl
def settings_model() -> type[AuthSettings]:
    return AuthSettings


@chassis.hookimpl
def configure_app(app: chassis.BaseApp, plugin: chassis.PluginContext) -> None:
    from ._setup import setup

    plugin.state = setup(app, plugin.settings)
    if plugin.settings.swagger_client_id:
        from ._swagger import configure

        configure(app, plugin.settings)


@chassis.hookimpl
def register_error_handlers(app: chassis.BaseApp, plugin: chassis.PluginContext) -> None:
    from ._handlers import register

    register(app, plugin.state)


@chassis.hookimpl
async def startup(plugin: chassis.PluginContext) -> None:
    """Start loading the signing keys, so the first requests find them; point Swagger UI's
    Authorize button at the issuer."""
    plugin.state.start_prefetch()
    if plugin.settings.swagger_client_id:
        from ._swagger import start

        await start(plugin.app, plugin.settings)


@chassis.hookimpl
async def shutdown(plugin: chassis.PluginContext) -> None:
    """Cancel key fetches still in flight."""
    await plugin.state.close()


@chassis.hookimpl
async def validate_bearer_token(app: Any, token: str, scopes: list[str]) -> dict[str, Any] | None:
    """The kernel's protected endpoints (``CHASSIS_MANAGEMENT__SCOPE``): a valid bearer JWT
    that grants ``scopes``; refusals raise ``InvalidToken`` (401) or ``InsufficientScope``
    (403)."""
    authenticator = get_authenticator(app)
    if authenticator is None:
        return None
    info = await authenticator.validate_token(token)
    authenticator.check_scopes(info, scopes)
    return info


@chassis.hookimpl
async def health_info(plugin: chassis.PluginContext) -> dict[str, dict[str, Any]] | None:
    """``jwks``: whether signing keys are loaded and fresh (down when none are loaded)."""
    health: dict[str, dict[str, Any]] | None = await plugin.state.health()
    return health
