"""Connexion's security handlers, resolved to the plugin's validator through ``security_map``.

Connexion builds one handler per security scheme of each operation (``security_map`` maps a
scheme type to a handler class, called with no arguments). The plugin's handlers are
partials bound to the app's :class:`Authenticator`. A scheme that names its own function in
the spec (``x-bearerInfoFunc``, ``x-tokenInfoFunc``, ``x-tokenInfoUrl``, ``x-apikeyInfoFunc``,
or Connexion's environment variables) keeps Connexion's behaviour.
"""

from __future__ import annotations

import functools
from typing import Any

from connexion.security import (
    ApiKeySecurityHandler,
    BearerSecurityHandler,
    OAuthSecurityHandler,
)

from ._authenticator import Authenticator, SecurityFunction


class ChassisBearerHandler(BearerSecurityHandler):
    """``type: http, scheme: bearer``: the token is validated as a JWT; scopes are checked."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    def get_fn(self, security_scheme: dict[str, Any], required_scopes: Any) -> Any:
        if self._resolve_func(security_scheme) is not None:
            return super().get_fn(security_scheme, required_scopes)
        return self.authenticator.bearer_function(required_scopes)


class ChassisOAuthHandler(OAuthSecurityHandler):
    """``type: oauth2`` and ``type: openIdConnect``: bearer JWTs with the required scopes."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    def get_fn(self, security_scheme: dict[str, Any], required_scopes: Any) -> Any:
        if self.get_tokeninfo_func(security_scheme) is not None:
            return super().get_fn(security_scheme, required_scopes)
        return self.authenticator.bearer_function(required_scopes)


class ChassisApiKeyHandler(ApiKeySecurityHandler):
    """``type: apiKey`` (header, query or cookie): the key is one of ``api_keys``."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    def get_fn(self, security_scheme: dict[str, Any], required_scopes: Any) -> Any:
        if self._resolve_func(security_scheme) is not None:
            return super().get_fn(security_scheme, required_scopes)
        function: SecurityFunction = self.authenticator.api_key_function(
            security_scheme["in"], security_scheme["name"], required_scopes
        )
        return function


def security_map(authenticator: Authenticator) -> dict[str, Any]:
    """The ``security_map`` option (Connexion's ``App``/``add_api``) for ``authenticator``."""
    oauth = functools.partial(ChassisOAuthHandler, authenticator)
    return {
        "bearer": functools.partial(ChassisBearerHandler, authenticator),
        "oauth2": oauth,
        "openIdConnect": oauth,
        "apiKey": functools.partial(ChassisApiKeyHandler, authenticator),
    }
