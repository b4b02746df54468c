"""Bearer JWT validation: algorithm, key, signature, claims; validated tokens remembered.

The cache keeps each validated token's info frozen (read-only mappings, tuples) and hands
every caller a fresh copy made of plain dicts and lists: a view that changes its
``token_info`` (adds a scope, say) changes only its own copy, never what later requests with
the same token are checked against.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import jwt
from jwt import exceptions as jwt_errors

from ._errors import AuthUnavailable, InvalidToken
from ._jwks import JwksCache, SigningKey
from ._settings import AuthSettings

NUMERIC_DATE_CLAIMS = ("exp", "nbf", "iat")
"""Registered claims whose value is a NumericDate (RFC 7519, section 2): a JSON number."""


class InvalidNumericDate(jwt_errors.InvalidTokenError):
    """``exp``, ``nbf`` or ``iat`` is not a JSON number (a string, a boolean, ``NaN``...)."""


def _check_numeric_dates(payload: Mapping[str, Any]) -> None:
    """Refuse a NumericDate claim that is not a finite JSON number.

    PyJWT reads these claims with ``int(...)``, which takes ``"1700000000"`` and ``true`` (1):
    a token whose ``exp`` is a string of digits would be accepted, then remembered by the
    token cache past that time (the cache bounds its entries by numeric ``exp`` only).
    """
    for name in NUMERIC_DATE_CLAIMS:
        if name not in payload:
            continue
        value = payload[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidNumericDate(
                f"{name} must be a number (RFC 7519 NumericDate), not {type(value).__name__}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidNumericDate(f"{name} must be a finite number, not {value}")


class _Decoder(jwt.PyJWT):
    """PyJWT's decoder, refusing NumericDate claims that are not JSON numbers.

    The check runs on the payload once the signature is verified and before PyJWT checks the
    claims (``_decode_payload`` is PyJWT's documented hook for subclasses), so a forged token
    is still ``bad_signature`` and a string ``exp`` is ``invalid_claim``, never ``expired``
    nor ``malformed``.
    """

    def _decode_payload(self, decoded: dict[str, Any]) -> dict[str, Any]:
        payload = super()._decode_payload(decoded)
        _check_numeric_dates(payload)
        return payload


# PyJWT's exceptions, most specific first, and the reason each one is counted under.
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt_errors.ExpiredSignatureError, "expired"),
    (jwt_errors.ImmatureSignatureError, "not_yet_valid"),
    (jwt_errors.InvalidIssuerError, "wrong_issuer"),
    (jwt_errors.InvalidAudienceError, "wrong_audience"),
    (jwt_errors.MissingRequiredClaimError, "missing_claim"),
    (jwt_errors.InvalidSignatureError, "bad_signature"),
    (jwt_errors.InvalidAlgorithmError, "bad_algorithm"),
    (InvalidNumericDate, "invalid_claim"),
    (jwt_errors.InvalidIssuedAtError, "invalid_claim"),
    (jwt_errors.InvalidSubjectError, "invalid_claim"),
    (jwt_errors.InvalidJTIError, "invalid_claim"),
    (jwt_errors.DecodeError, "malformed"),
    (jwt_errors.InvalidKeyError, "bad_key"),
    (jwt_errors.PyJWKError, "bad_key"),
)


def _reason(error: Exception) -> str:
    for kind, reason in _REASONS:
        if isinstance(error, kind):
            return reason
    return "malformed"


class TokenValidator:
    """Validates bearer JWTs against the cached keys and the ``[auth]`` settings.

    ``validate`` returns the token's claims with ``scopes`` and ``roles`` added as lists, or
    raises :class:`InvalidToken` (401) or :class:`AuthUnavailable` (503).
    """

    def __init__(
        self,
        settings: AuthSettings,
        jwks: JwksCache,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.jwks = jwks
        self._clock = clock
        self._algorithms = frozenset(settings.algorithms)
        self._issuer = settings.issuer
        self._audience = list(settings.audience) or None
        self._leeway = settings.leeway
        self._max_length = settings.max_token_length
        self._decoder = _Decoder(
            options={
                "require": list(settings.required_claims),
                "verify_aud": settings.verify_audience,
                "verify_iss": settings.issuer is not None,
                "enforce_minimum_key_length": True,
            }
        )
        self._scope_claims = list(settings.scope_claims)
        self._roles_path = [part for part in settings.roles_claim.split(".") if part]
        self._cache_size = settings.token_cache_size
        self._cache_ttl = settings.token_cache_ttl
        self._cache: OrderedDict[bytes, tuple[float, Mapping[str, Any]]] = OrderedDict()

    async def validate(self, token: str) -> dict[str, Any]:
        """The token info of a valid token; raises :class:`InvalidToken` otherwise."""
        if len(token) > self._max_length:
            raise InvalidToken("oversized", f"{len(token)} characters")
        if not self._cache_size or not self._cache_ttl:
            return self._token_info(await self._verify(token))
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        cache = self._cache
        hit = cache.get(digest)
        now = self._clock()
        if hit is not None:
            if hit[0] > now:
                return _thaw_info(hit[1])
            cache.pop(digest, None)
        info = self._token_info(await self._verify(token))
        until = now + self._cache_ttl
        exp = info.get("exp")
        if isinstance(exp, (int, float)):  # a JSON number: checked by _Decoder
            until = min(until, exp + self._leeway)
        if until > now:
            cache[digest] = (until, _freeze(info))  # new containers: shares nothing with info
            if len(cache) > self._cache_size:
                cache.popitem(last=False)
        return info

    def forget(self) -> None:
        """Drop every remembered token (after a key is known to be compromised)."""
        self._cache.clear()

    async def _verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt_errors.PyJWTError as error:
            raise InvalidToken("malformed", str(error)) from None
        alg = header.get("alg")
        kid = header.get("kid")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise InvalidToken("bad_algorithm", f"alg {str(alg)[:20]!r} is not allowed")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("malformed", "kid is not a string")
        keys = [key for key in await self._keys(kid) if alg in key.algorithms]
        if not keys:
            raise InvalidToken(
                "bad_algorithm", f"alg {alg!r} does not fit the key with kid {_short(kid)}"
            )
        mismatch: Exception | None = None
        for key in keys:
            try:
                claims: dict[str, Any] = self._decoder.decode(
                    token,
                    key.key,
                    algorithms=[alg],
                    audience=self._audience,
                    issuer=self._issuer,
                    leeway=self._leeway,
                )
                return claims
            except jwt_errors.InvalidSignatureError as failed:
                mismatch = failed  # without a kid, another key of the set may match
            except (jwt_errors.PyJWTError, ValueError, TypeError) as failed:
                raise InvalidToken(_reason(failed), str(failed)[:200]) from None
        raise InvalidToken("bad_signature", str(mismatch))

    async def _keys(self, kid: str | None) -> list[SigningKey]:
        jwks = self.jwks
        if not jwks.loaded:
            if not await jwks.refresh():
                raise AuthUnavailable(
                    "jwks_unavailable",
                    f"no signing keys loaded from {jwks.source}: "
                    f"{jwks.last_error or 'a fetch failed recently'}",
                    retry_after=jwks.retry_after() or jwks.min_refetch_interval,
                )
        else:
            jwks.refresh_in_background()
        keys = jwks.lookup(kid)
        if not keys and kid is not None:
            # A kid we do not know: the issuer may have rotated its keys. Rate-limited.
            if await jwks.refresh():
                keys = jwks.lookup(kid)
            if not keys:
                raise InvalidToken("unknown_kid", f"no key with kid {_short(kid)}")
        return keys

    def _token_info(self, claims: dict[str, Any]) -> dict[str, Any]:
        info = dict(claims)
        info["scopes"] = self._scopes(claims)
        info["roles"] = self._roles(claims)
        return info

    def _scopes(self, claims: dict[str, Any]) -> list[str]:
        for name in self._scope_claims:
            value = claims.get(name)
            if value is not None:
                return _strings(value)
        return []

    def _roles(self, claims: dict[str, Any]) -> list[str]:
        value: Any = claims
        for part in self._roles_path:
            if not isinstance(value, dict):
                return []
            value = value.get(part)
        return _strings(value) if value is not None else []


def _freeze(value: Any) -> Any:
    """A read-only deep copy of a JSON value: dicts become read-only mappings, lists tuples."""
    if isinstance(value, dict):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    return value


_FROZEN = (MappingProxyType, tuple)


def _thaw(value: Any) -> Any:
    """A mutable deep copy of a :func:`_freeze` result, back in plain dicts and lists."""
    if type(value) is MappingProxyType:
        return {
            key: item if type(item) not in _FROZEN else _thaw(item) for key, item in value.items()
        }
    if type(value) is tuple:
        return [item if type(item) not in _FROZEN else _thaw(item) for item in value]
    return value


def _thaw_info(frozen: Mapping[str, Any]) -> dict[str, Any]:
    thawed: dict[str, Any] = _thaw(frozen)
    return thawed


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, (list, tuple)):
        return [item for item in value if isinstance(item, str)]
    return []


def _short(kid: str | None) -> str:
    return repr(kid if kid is None or len(kid) <= 64 else kid[:64] + "...")
