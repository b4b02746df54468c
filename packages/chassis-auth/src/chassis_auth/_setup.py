"""Wiring the plugin into an app: the Authenticator and Connexion's security_map."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ._authenticator import Authenticator
from ._metrics import metrics_for
from ._security import security_map
from ._settings import AuthSettings

if TYPE_CHECKING:
    from chassis import App

logger = logging.getLogger("chassis.auth")


def setup(app: App, settings: AuthSettings) -> Authenticator:
    """Build the app's :class:`Authenticator` and make Connexion's security use it."""
    authenticator = Authenticator(
        settings,
        realm=settings.realm or app.settings.service_name,
        metrics=metrics_for(app),
    )
    options = app.middleware.options
    # App-wide, so every add_api gets it; a security_map given to App() or add_api() wins.
    options.security_map = {**security_map(authenticator), **(options.security_map or {})}
    if authenticator.jwks is not None:  # (its JwksCache warned about plain http already)
        logger.info(
            "bearer tokens: issuer %s, audience %s, keys from %s",
            settings.issuer or "(any)",
            ", ".join(settings.audience) or "(any)",
            settings.jwks_source,
        )
    else:
        logger.info(
            "bearer tokens are not configured (CHASSIS_AUTH__ISSUER / CHASSIS_AUTH__JWKS_URL): "
            "operations that require them answer 503"
        )
    if not settings.api_keys:
        logger.debug("no API keys configured (CHASSIS_AUTH__API_KEYS)")
    return authenticator
