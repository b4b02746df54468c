"""Connexion's security handlers, resolved to the plugin's validator through ``security_map``.

Connexion builds one handler per security scheme of each operation (``security_map`` maps a
scheme type to a handler class, called with no arguments). The plugin's handlers are
partials bound to the app's :class:`Authenticator`. A scheme that names its own function in
the spec (``x-bearerInfoFunc``, ``x-tokenInfoFunc``, ``x-tokenInfoUrl``, ``x-apikeyInfoFunc``,
or Connexion's environment variables) keeps Connexion's behaviour.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from connexion.security import (
    NO_VALUE,
    ApiKeySecurityHandler,
    BearerSecurityHandler,
    OAuthSecurityHandler,
)

from ._authenticator import API_KEY, BEARER, Authenticator, SecurityFunction, note_absent


def _noting_absence(
    function: Callable[[Any], Any] | None, challenge: str
) -> SecurityFunction | None:
    """Connexion's own function for a scheme, noting when it finds no credentials (so the
    401's challenge names the scheme, as for the plugin's functions)."""
    if function is None:
        return None

    async def verify(request: Any) -> Any:
        result = function(request)
        while asyncio.iscoroutine(result):
            result = await result
        if result is NO_VALUE:
            note_absent(request, challenge)
        return result

    return verify


class ChassisBearerHandler(BearerSecurityHandler):
    """``type: http, scheme: bearer``: the token is validated as a JWT; scopes are checked."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    def get_fn(self, security_scheme: dict[str, Any], required_scopes: Any) -> Any:
        if self._resolve_func(security_scheme) is not None:
            return _noting_absence(super().get_fn(security_scheme, required_scopes), BEARER)
        return self.authenticator.bearer_function(required_scopes)


class ChassisOAuthHandler(OAuthSecurityHandler):
    """``type: oauth2`` and ``type: openIdConnect``: bearer JWTs with the required scopes."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    def get_fn(self, security_scheme: dict[str, Any], required_scopes: Any) -> Any:
        if self.get_tokeninfo_func(security_scheme) is not None:
            return _noting_absence(super().get_fn(security_scheme, required_scopes), BEARER)
        return self.authenticator.bearer_function(required_scopes)


class ChassisApiKeyHandler(ApiKeySecurityHandler):
    """``type: apiKey`` (header, query or cookie): the key is one of ``api_keys``."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    def get_fn(self, security_scheme: dict[str, Any], required_scopes: Any) -> Any:
        if self._resolve_func(security_scheme) is not None:
            return _noting_absence(super().get_fn(security_scheme, required_scopes), API_KEY)
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
