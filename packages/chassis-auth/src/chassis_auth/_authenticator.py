"""The plugin's per-app object: validates credentials, checks scopes, reports health."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from connexion.security import NO_VALUE

from ._errors import AuthUnavailable, InsufficientScope, InvalidToken
from ._jwks import JwksCache
from ._metrics import AuthMetrics, NoMetrics
from ._settings import AuthSettings
from ._validator import TokenValidator

logger = logging.getLogger("chassis.auth")

SecurityFunction = Callable[[Any], Awaitable[Any]]

_NOT_CONFIGURED_RETRY = 60.0

BEARER = "Bearer"
API_KEY = "ApiKey"
_ABSENT_KEY = "chassis_auth_absent"


def note_absent(request: Any, challenge: str) -> None:
    """Remember that a scheme of the operation found none of its credentials in the request:
    the 401 for "no credentials" challenges with the schemes that were tried (``Bearer``,
    ``ApiKey``), in the order of the operation's ``security`` list.

    Kept in ``scope["extensions"]``: Connexion's routing passes a shallow copy of the scope
    on, and the kernel makes ``extensions`` a dict that copy shares, so the error handler,
    outside routing, sees it."""
    extensions = request.scope["extensions"]
    absent: list[str] | None = extensions.get(_ABSENT_KEY)
    if absent is None:
        extensions[_ABSENT_KEY] = [challenge]
    elif challenge not in absent:
        absent.append(challenge)


def absent_challenges(request: Any) -> list[str]:
    """The challenge schemes :func:`note_absent` noted for the request (none: ``[]``)."""
    absent: list[str] | None = request.scope.get("extensions", {}).get(_ABSENT_KEY)
    return list(absent or ())


class Authenticator:
    """Validates bearer tokens and API keys for one app, as its ``[auth]`` settings say.

    Reach it with :func:`chassis_auth.get_authenticator` to validate credentials outside
    Connexion's security (a websocket, a background job): ``await auth.validate_token(t)``.
    """

    def __init__(
        self, settings: AuthSettings, *, realm: str, metrics: AuthMetrics | None = None
    ) -> None:
        self.settings = settings
        self.realm = realm
        self.metrics: AuthMetrics = metrics or NoMetrics()
        self.jwks: JwksCache | None = None
        self.validator: TokenValidator | None = None
        if settings.jwt_configured:
            self.jwks = JwksCache(settings, on_fetch=self.metrics.jwks_fetched)
            self.validator = TokenValidator(settings, self.jwks)
        self._api_keys = [
            hashlib.sha256(key.get_secret_value().encode()).digest() for key in settings.api_keys
        ]
        self._roles_as_scopes = settings.roles_as_scopes
        self._max_length = settings.max_token_length

    # -- credentials ----------------------------------------------------------------------

    async def validate_token(self, token: str) -> dict[str, Any]:
        """The token info (claims plus ``scopes`` and ``roles`` lists) of a valid bearer JWT.

        :raises InvalidToken: 401, the token is not acceptable (``.reason`` says why).
        :raises AuthUnavailable: 503, no signing keys can be loaded or none are configured.
        """
        if self.validator is None:
            raise AuthUnavailable(
                "not_configured",
                "a bearer token arrived but neither CHASSIS_AUTH__ISSUER nor "
                "CHASSIS_AUTH__JWKS_URL is set",
                retry_after=_NOT_CONFIGURED_RETRY,
            )
        return await self.validator.validate(token)

    def check_api_key(self, key: str) -> dict[str, Any]:
        """The token info of a valid API key: ``sub`` is ``api-key-<n>``, n its position.

        Every configured key is compared, in constant time (``hmac.compare_digest`` of
        SHA-256 digests, so neither the key's length nor its position leaks).
        """
        if not self._api_keys:
            raise AuthUnavailable(
                "not_configured",
                "an API key arrived but CHASSIS_AUTH__API_KEYS is empty",
                retry_after=_NOT_CONFIGURED_RETRY,
            )
        if len(key) > self._max_length:
            raise InvalidToken("oversized", f"{len(key)} characters", api_key=True)
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
        found = 0
        for number, expected in enumerate(self._api_keys, start=1):
            if hmac.compare_digest(digest, expected) and not found:
                found = number
        if not found:
            raise InvalidToken("invalid_api_key", "no configured key matches", api_key=True)
        return {"sub": f"api-key-{found}", "auth_method": "api_key", "scopes": [], "roles": []}

    def check_scopes(self, token_info: dict[str, Any], required: Sequence[str]) -> None:
        """Raise :class:`InsufficientScope` (403) unless every required scope is granted."""
        granted = token_info.get("scopes") or []
        if self._roles_as_scopes:
            granted = [*granted, *(token_info.get("roles") or [])]
        if not set(required).issubset(granted):
            raise InsufficientScope(required, granted)

    # -- Connexion security functions -----------------------------------------------------

    def bearer_function(self, required_scopes: Sequence[str] | None) -> SecurityFunction:
        """The function Connexion's security middleware calls for a bearer-token scheme."""
        required = list(required_scopes or ())
        validate, check_scopes = self.validate_token, self.check_scopes

        async def verify_bearer(request: Any) -> Any:
            header = request.headers.get("authorization")
            if not header:
                note_absent(request, BEARER)
                return NO_VALUE
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer":
                note_absent(request, BEARER)
                return NO_VALUE
            token = token.strip()
            if not token:
                raise InvalidToken("malformed_header", "empty bearer token")
            info = await validate(token)
            if required:
                check_scopes(info, required)
            return info

        return verify_bearer

    def api_key_function(
        self, location: str, name: str, required_scopes: Sequence[str] | None
    ) -> SecurityFunction:
        """The function Connexion's security middleware calls for an ``apiKey`` scheme."""
        required = list(required_scopes or ())
        check, check_scopes = self.check_api_key, self.check_scopes

        async def verify_api_key(request: Any) -> Any:
            if location == "header":
                key = request.headers.get(name)
            elif location == "query":
                key = request.query_params.get(name)
            elif location == "cookie":
                key = request.cookies.get(name)
            else:
                key = None
            if key is None:
                note_absent(request, API_KEY)
                return NO_VALUE
            info = check(key)
            if required:
                check_scopes(info, required)
            return info

        return verify_api_key

    # -- keys and health ------------------------------------------------------------------

    def start_prefetch(self) -> None:
        """Start loading the signing keys in the background (at application start-up)."""
        if self.jwks is not None and not self.jwks.loaded:
            self.jwks.refresh_in_background()

    async def close(self) -> None:
        """Stop fetching keys (at application shutdown)."""
        if self.jwks is not None:
            await self.jwks.close()

    async def health(self) -> dict[str, dict[str, Any]] | None:
        """``{"jwks": {...}}`` for the readiness probe; tries to load missing keys first."""
        jwks = self.jwks
        if jwks is None:
            return None
        if not jwks.loaded:
            await jwks.refresh()
        else:
            jwks.refresh_in_background()
        return {"jwks": jwks.status()}
