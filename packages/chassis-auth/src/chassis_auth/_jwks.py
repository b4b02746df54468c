"""The signing keys: fetched (async) from a JWKS URL or found by OIDC discovery, then cached.

Requests never wait on the network while keys are cached: keys older than ``jwks_ttl`` keep
serving while a background task refreshes them, and a failed refresh keeps the old keys. A
fetch happens on the request path only when no keys are loaded at all, or for a ``kid`` that
is not known, and then at most once per ``jwks_min_refetch_interval`` (concurrent requests
share one fetch).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from ._settings import AuthSettings

logger = logging.getLogger("chassis.auth")

MAX_DOCUMENT_BYTES = 1 << 20

# The algorithms each key type can verify; a key's own `alg` narrows it to one. Matching the
# token's `alg` against its key's type is what stops key confusion (an RSA public key used as
# an HMAC secret): an RSA key never verifies an HS256 token.
_ALGORITHMS_BY_KEY: dict[tuple[str, str | None], frozenset[str]] = {
    ("RSA", None): frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    ("EC", "P-256"): frozenset({"ES256"}),
    ("EC", "P-384"): frozenset({"ES384"}),
    ("EC", "P-521"): frozenset({"ES512", "ES521"}),
    ("EC", "secp256k1"): frozenset({"ES256K"}),
    ("OKP", "Ed25519"): frozenset({"EdDSA"}),
    ("OKP", "Ed448"): frozenset({"EdDSA"}),
    ("oct", None): frozenset({"HS256", "HS384", "HS512"}),
}


@dataclass(frozen=True)
class SigningKey:
    """One usable key of the set: its id, type, the algorithms it may verify, the key."""

    kid: str | None
    kty: str
    algorithms: frozenset[str]
    key: Any


def parse_jwks(document: Any, allowed: Iterable[str]) -> tuple[list[SigningKey], int]:
    """The usable signature keys of a JWKS document, and how many keys were skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set (no 'keys' list)")
    allowed = frozenset(allowed)
    keys: list[SigningKey] = []
    skipped = 0
    for entry in document["keys"]:
        key = _parse_key(entry, allowed)
        if key is None:
            skipped += 1
        else:
            keys.append(key)
    return keys, skipped


def _parse_key(entry: Any, allowed: frozenset[str]) -> SigningKey | None:
    if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
        return None
    kty = entry.get("kty")
    curve = entry.get("crv") if kty in ("EC", "OKP") else None
    family = _ALGORITHMS_BY_KEY.get((str(kty), curve))
    if family is None:
        return None
    algorithms = family & allowed
    declared = entry.get("alg")
    if declared is not None:
        algorithms = algorithms & {declared}
    if not algorithms:
        return None
    kid = entry.get("kid")
    if kid is not None and not isinstance(kid, str):
        return None
    try:
        parsed = PyJWK(entry, algorithm=next(iter(sorted(algorithms))))
    except PyJWTError:
        return None
    return SigningKey(kid=kid, kty=str(kty), algorithms=algorithms, key=parsed.key)


def plain_http_off_host(url: str) -> bool:
    """Whether ``url`` is plain ``http://`` to anything but the loopback interface."""
    if not url.lower().startswith("http://"):
        return False
    host = (urlsplit(url).hostname or "").rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return True


class JwksError(Exception):
    """The discovery document or the key set could not be fetched or used."""


class JwksCache:
    """The cached key set of one app; see the module docstring for when it fetches."""

    def __init__(
        self,
        settings: AuthSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_fetch: Callable[[bool], None] | None = None,
    ) -> None:
        self.source = settings.jwks_source
        self.ttl = settings.jwks_ttl
        self.min_refetch_interval = settings.jwks_min_refetch_interval
        self.timeout = settings.jwks_timeout
        self._issuer = settings.issuer
        self._discovery = None if settings.jwks_url else self.source
        self._jwks_uri: str | None = settings.jwks_url
        self._algorithms = frozenset(settings.algorithms)
        self._clock = clock
        self._on_fetch = on_fetch
        self._by_kid: dict[str | None, list[SigningKey]] = {}
        self._all: list[SigningKey] = []
        self.loaded_at: float | None = None
        self.last_attempt: float | None = None
        self.last_error: str | None = None
        self.fetches = 0
        self._inflight: asyncio.Task[bool] | None = None
        self._background: set[asyncio.Task[bool]] = set()
        self._warned_http: set[str] = set()
        if self.source and plain_http_off_host(self.source):
            self._warned_http.add(self.source)
            logger.warning(
                "signing keys come from %s over plain http: anyone on the network path can "
                "swap them; use https for CHASSIS_AUTH__ISSUER / CHASSIS_AUTH__JWKS_URL",
                self.source,
            )

    # -- state ----------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return bool(self._all)

    @property
    def key_count(self) -> int:
        return len(self._all)

    def age(self) -> float | None:
        """Seconds since the keys were last loaded, or ``None`` before the first load."""
        return None if self.loaded_at is None else self._clock() - self.loaded_at

    def fresh(self) -> bool:
        age = self.age()
        return self.loaded and age is not None and age < self.ttl

    def may_fetch(self) -> bool:
        """Whether the rate limit allows a fetch now."""
        return (
            self.last_attempt is None
            or self._clock() - self.last_attempt >= self.min_refetch_interval
        )

    def retry_after(self) -> float:
        if self.last_attempt is None:
            return self.min_refetch_interval
        return max(0.0, self.min_refetch_interval - (self._clock() - self.last_attempt))

    def lookup(self, kid: str | None) -> list[SigningKey]:
        """The keys that may have signed a token with this ``kid``: all of them when the
        token names none; the set's keys without a ``kid`` when no key has that one."""
        if kid is None:
            return self._all
        return self._by_kid.get(kid) or self._by_kid.get(None, [])

    def status(self) -> dict[str, Any]:
        """For the readiness probe: loaded, fresh, how many keys, how old, the last error."""
        age = self.age()
        report: dict[str, Any] = {
            "status": "up" if self.loaded else "down",
            "loaded": self.loaded,
            "fresh": self.fresh(),
            "keys": self.key_count,
            "age_seconds": None if age is None else round(age, 1),
            "source": self.source,
        }
        if self._jwks_uri and self._jwks_uri != self.source:
            report["jwks_uri"] = self._jwks_uri
        if self.last_error:
            report["last_error"] = self.last_error
        return report

    # -- fetching -------------------------------------------------------------------------

    async def refresh(self, *, force: bool = False) -> bool:
        """Fetch the keys now (joining a fetch in progress); ``True`` if keys were loaded.

        Unless ``force``, nothing is fetched when the rate limit does not allow it.
        """
        loop = asyncio.get_running_loop()
        task = self._inflight
        if task is None or task.done() or task.get_loop() is not loop:
            if not (force or self.may_fetch()):
                return False
            self.last_attempt = self._clock()
            task = loop.create_task(self._fetch())
            self._inflight = task
        # Shielded: a client that disconnects must not cancel the fetch others wait for.
        return await asyncio.shield(task)

    def refresh_in_background(self) -> None:
        """Start a refresh when the keys are stale and the rate limit allows; never waits."""
        if self.fresh() or not self.may_fetch():
            return
        task = self._inflight
        if task is not None and not task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self.last_attempt = self._clock()
        task = loop.create_task(self._fetch())
        self._inflight = task
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        """Cancel fetches in flight (at application shutdown)."""
        tasks = [t for t in (self._inflight, *self._background) if t is not None and not t.done()]
        loop = asyncio.get_running_loop()
        tasks = [t for t in tasks if t.get_loop() is loop]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _fetch(self) -> bool:
        self.fetches += 1
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout, headers={"Accept": "application/json"}
            ) as client:
                if self._jwks_uri is None:
                    self._jwks_uri = await self._discover(client)
                try:
                    document = await _get_json(client, self._jwks_uri)
                except JwksError:
                    if self._discovery is not None:
                        self._jwks_uri = None  # rediscover next time: jwks_uri may have moved
                    raise
            keys, skipped = parse_jwks(document, self._algorithms)
            if not keys:
                raise JwksError(f"no usable signing keys in the JWK Set ({skipped} skipped)")
        except (JwksError, ValueError) as error:
            return self._failed(str(error))
        except Exception as error:  # a fetch must never take a request down with it
            return self._failed(f"{type(error).__name__}: {error}")
        by_kid: dict[str | None, list[SigningKey]] = {}
        for key in keys:
            by_kid.setdefault(key.kid, []).append(key)
        self._all, self._by_kid = keys, by_kid
        self.loaded_at = self._clock()
        self.last_error = None
        if self._on_fetch is not None:
            self._on_fetch(True)
        logger.info(
            "loaded %d signing key(s) from %s (kids: %s)",
            len(keys),
            self._jwks_uri,
            ", ".join(sorted(str(k) for k in by_kid)),
        )
        return True

    async def _discover(self, client: httpx.AsyncClient) -> str:
        assert self._discovery is not None
        document = await _get_json(client, self._discovery)
        if not isinstance(document, dict) or not isinstance(document.get("jwks_uri"), str):
            raise JwksError(f"the discovery document {self._discovery} has no jwks_uri")
        # OpenID Connect Discovery 1.0, section 4.3: the issuer must be the one asked for.
        if self._issuer and document.get("issuer") != self._issuer:
            raise JwksError(
                f"the discovery document names issuer {document.get('issuer')!r}, "
                f"not {self._issuer!r}"
            )
        jwks_uri: str = document["jwks_uri"]
        if plain_http_off_host(jwks_uri) and jwks_uri not in self._warned_http:
            self._warned_http.add(jwks_uri)  # once: discovery runs again after a failed fetch
            logger.warning(
                "the discovery document %s points to signing keys at %s, over plain http: "
                "anyone on the network path can swap them; the issuer should publish an https "
                "jwks_uri (or set CHASSIS_AUTH__JWKS_URL to one)",
                self._discovery,
                jwks_uri,
            )
        return jwks_uri

    def _failed(self, message: str) -> bool:
        self.last_error = message[:300]
        if self._on_fetch is not None:
            self._on_fetch(False)
        level = logging.WARNING if self.loaded else logging.ERROR
        logger.log(
            level,
            "cannot load signing keys from %s: %s%s",
            self._jwks_uri or self.source,
            self.last_error,
            " (keeping the cached keys)" if self.loaded else "",
        )
        return False


async def _get_json(client: httpx.AsyncClient, url: str) -> Any:
    try:
        async with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise JwksError(f"GET {url} answered {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise JwksError(f"GET {url}: the document is over {MAX_DOCUMENT_BYTES} bytes")
    except httpx.HTTPError as error:
        raise JwksError(f"GET {url} failed: {type(error).__name__}: {error}") from error
    try:
        return json.loads(bytes(body))
    except ValueError as error:
        raise JwksError(f"GET {url}: not JSON") from error
