"""How calls to a service authenticate: a static token, or OAuth2 client credentials.

The OAuth2 token is fetched from the token endpoint (``token_url``, or the one the issuer's
OpenID Connect discovery document names) the first time it is needed, cached until
``refresh_margin`` seconds before it expires, shared by the service's sync and async clients,
and fetched anew when the service answers 401 (once per call).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, Generator
from typing import Any

import httpx

from ._settings import AuthSettings

DISCOVERY_PATH = "/.well-known/openid-configuration"


class TokenError(httpx.TransportError):
    """No access token could be had for a service (the token endpoint failed or refused).
    Unhandled in a view, it is a 502 problem+json naming the service.

    :ivar service: the service's name.
    """

    def __init__(self, service: str, message: str) -> None:
        self.service = service
        super().__init__(f"service {service!r}: {message}")


class ClientCredentials(httpx.Auth):
    """OAuth2 client-credentials grant (RFC 6749 section 4.4), client_secret_basic."""

    requires_response_body = False

    def __init__(self, service: str, settings: AuthSettings, verify: bool = True) -> None:
        self.service = service
        self.settings = settings
        self.verify = verify
        self._token: str | None = None
        self._expires = 0.0
        self._token_url = settings.token_url
        self._lock = threading.Lock()
        self._async_lock: asyncio.Lock | None = None
        self._sync_http: httpx.Client | None = None
        self._async_http: httpx.AsyncClient | None = None

    # -- flows ------------------------------------------------------------------------------

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {self._sync_token(force=False)}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self._sync_token(force=True)}"
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {await self._async_token(force=False)}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {await self._async_token(force=True)}"
            yield request

    # -- tokens -----------------------------------------------------------------------------

    def _fresh(self) -> str | None:
        if self._token is not None and time.monotonic() < self._expires:
            return self._token
        return None

    def _sync_token(self, *, force: bool) -> str:
        stale = self._token
        if not force and (token := self._fresh()) is not None:
            return token
        with self._lock:  # one fetch at a time; the others use its token
            # Another caller may have fetched one while this one waited for the lock.
            renewed = self._token is not None and (self._token != stale or not force)
            if renewed and (token := self._fresh()) is not None:
                return token
            http = self._sync_http
            if http is None:
                http = self._sync_http = httpx.Client(verify=self.verify, timeout=10.0)
            try:
                if self._token_url is None:
                    self._token_url = self._discovered(http.get(self._discovery_url()))
                return self._store(http.post(self._token_url, **self._grant()))
            except httpx.HTTPError as error:
                raise self._unreachable(error) from error

    async def _async_token(self, *, force: bool) -> str:
        stale = self._token
        if not force and (token := self._fresh()) is not None:
            return token
        if self._async_lock is None:
            self._async_lock = asyncio.Lock()
        async with self._async_lock:
            # Another caller may have fetched one while this one waited for the lock.
            renewed = self._token is not None and (self._token != stale or not force)
            if renewed and (token := self._fresh()) is not None:
                return token
            http = self._async_http
            if http is None:
                http = self._async_http = httpx.AsyncClient(verify=self.verify, timeout=10.0)
            try:
                if self._token_url is None:
                    self._token_url = self._discovered(await http.get(self._discovery_url()))
                return self._store(await http.post(self._token_url, **self._grant()))
            except httpx.HTTPError as error:
                raise self._unreachable(error) from error

    def _unreachable(self, error: httpx.HTTPError) -> TokenError:
        if isinstance(error, TokenError):
            return error
        return TokenError(self.service, f"the token endpoint failed: {type(error).__name__}")

    def _discovery_url(self) -> str:
        issuer = str(self.settings.issuer).rstrip("/")
        return issuer + DISCOVERY_PATH

    def _discovered(self, response: httpx.Response) -> str:
        try:
            response.raise_for_status()
            endpoint = response.json()["token_endpoint"]
        except Exception as error:
            raise TokenError(
                self.service,
                f"no token_endpoint in the discovery document of {self.settings.issuer}: "
                f"{type(error).__name__}",
            ) from error
        return str(endpoint)

    def _grant(self) -> dict[str, Any]:
        settings = self.settings
        form = {"grant_type": "client_credentials"}
        if settings.scope:
            form["scope"] = " ".join(settings.scope)
        if settings.audience:
            form["audience"] = settings.audience
        secret = settings.client_secret.get_secret_value() if settings.client_secret else ""
        return {"data": form, "auth": (str(settings.client_id), secret)}

    def _store(self, response: httpx.Response) -> str:
        try:
            response.raise_for_status()
            body = response.json()
            token = str(body["access_token"])
            lifetime = float(body.get("expires_in") or 300)
        except Exception as error:
            raise TokenError(
                self.service,
                f"the token endpoint answered {response.status_code} without an access token "
                f"({type(error).__name__})",
            ) from error
        margin = min(self.settings.refresh_margin, lifetime / 2)
        self._token, self._expires = token, time.monotonic() + lifetime - margin
        return token

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        if self._sync_http is not None:
            self._sync_http.close()
            self._sync_http = None

    async def aclose(self) -> None:
        self.close()
        if self._async_http is not None:
            await self._async_http.aclose()
            self._async_http = None


def build_auth(service: str, settings: AuthSettings, verify: bool) -> ClientCredentials | None:
    return ClientCredentials(service, settings, verify) if settings.kind == "oauth2" else None


def static_headers(settings: AuthSettings) -> dict[str, str]:
    if settings.token is None:
        return {}
    token = settings.token.get_secret_value()
    if settings.header.lower() != "authorization":
        return {settings.header: token}  # an API key header: the token as it is
    return {"Authorization": f"{settings.scheme} {token}"}
