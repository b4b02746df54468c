"""The client plugin's settings: ``settings.client``, ``CHASSIS_CLIENT__*``.

One section per downstream service under ``services``:
``CHASSIS_CLIENT__SERVICES__BILLING__BASE_URL=https://billing.internal/v1``. Service names
are case-insensitive (environment variables are): they are kept in lower case.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from chassis import CommaList, PluginSettings, split_list
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import NoDecode

SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")

StatusList = Annotated[list[int], NoDecode, BeforeValidator(split_list)]
"""Statuses as ``502,503`` or a JSON list from the environment."""

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class TimeoutSettings(_Section):
    """Seconds; each must be above 0 (no timeout at all is never what a service wants)."""

    connect: float = Field(2.0, gt=0, description="Seconds to open a connection.")
    read: float = Field(10.0, gt=0, description="Seconds to wait for each read (and write).")
    total: float = Field(
        30.0,
        gt=0,
        description="Seconds for the whole call, retries and back-off included; each network "
        "wait is cut to what remains.",
    )


class RetrySettings(_Section):
    """Retries: only of idempotent methods (or requests with an ``Idempotency-Key``), with
    exponential back-off and full jitter, within a per-service retry budget."""

    attempts: int = Field(3, ge=1, le=10, description="Attempts in all (1: no retry).")
    backoff_initial: float = Field(
        0.1, gt=0, description="Seconds: the first back-off is random in [0, this]."
    )
    backoff_max: float = Field(2.0, gt=0, description="Seconds: the longest back-off.")
    statuses: StatusList = Field(
        default_factory=lambda: [429, 502, 503, 504],
        description="Response statuses worth another attempt.",
    )
    respect_retry_after: bool = Field(
        True, description="Wait what a 429/503 Retry-After asks (up to backoff_max)."
    )
    budget_ratio: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Retry budget: each call earns this many retries (0.2: retries are at "
        "most a fifth of calls, plus budget_reserve).",
    )
    budget_reserve: float = Field(
        10.0, ge=0, description="Retry budget: retries available at start and at most saved."
    )

    @field_validator("statuses")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        return _http_statuses(value)


class BreakerSettings(_Section):
    """A circuit breaker per service: ``failure_threshold`` failed attempts in a row open it
    (calls are refused at once with ``chassis_client.ServiceUnavailable``); after
    ``reset_timeout`` seconds it lets ``half_open_calls`` trial calls through, and closes
    when they succeed."""

    enabled: bool = True
    failure_threshold: int = Field(5, ge=1, description="Failures in a row that open it.")
    reset_timeout: float = Field(
        30.0, gt=0, description="Seconds it stays open before trial calls."
    )
    half_open_calls: int = Field(1, ge=1, description="Trial calls let through when half-open.")
    failure_statuses: StatusList = Field(
        default_factory=lambda: [500, 502, 503, 504],
        description="Response statuses that count as failures (transport errors always do).",
    )

    @field_validator("failure_statuses")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        return _http_statuses(value)


def _http_statuses(value: list[int]) -> list[int]:
    for status in value:
        if not 100 <= status <= 599:
            raise ValueError(f"{status} is not an HTTP status")
    return value


class AuthSettings(_Section):
    """How calls authenticate: a static ``token``, or OAuth2 client credentials (``client_id``
    and ``client_secret`` against ``token_url``, or the token endpoint the ``issuer``'s
    OpenID Connect discovery document names)."""

    token: SecretStr | None = Field(
        None,
        description="A static token: `Authorization: <scheme> <token>`, or `<header>: <token>`.",
    )
    scheme: str = Field("Bearer", min_length=1, pattern=r"^[A-Za-z0-9._~+/-]+$")
    header: str = Field(
        "Authorization",
        pattern=r"^[A-Za-z0-9-]+$",
        description="Header of a static token; another than Authorization (X-Api-Key) gets "
        "the token alone.",
    )
    client_id: str | None = None
    client_secret: SecretStr | None = None
    token_url: str | None = None
    issuer: str | None = None
    scope: CommaList = Field(default_factory=list)
    audience: str | None = None
    refresh_margin: float = Field(
        30.0, ge=0, description="Seconds before expiry a cached token is renewed."
    )

    @field_validator("token_url", "issuer")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value, allow_path=True)

    @model_validator(mode="after")
    def _complete(self) -> AuthSettings:
        oauth = self.client_id is not None or self.client_secret is not None
        if oauth and self.token is not None:
            raise ValueError("set either token or client_id/client_secret, not both")
        if oauth and (self.client_id is None or self.client_secret is None):
            raise ValueError("OAuth2 client credentials need both client_id and client_secret")
        if oauth and self.token_url is None and self.issuer is None:
            raise ValueError("OAuth2 client credentials need token_url or issuer")
        return self

    @property
    def kind(self) -> str:
        if self.token is not None:
            return "token"
        return "oauth2" if self.client_id is not None else "none"


class ServiceSettings(_Section):
    """One downstream service: ``CHASSIS_CLIENT__SERVICES__<NAME>__*``."""

    base_url: str = Field(description="http:// or https:// URL the client's paths are joined to.")
    timeout: TimeoutSettings = Field(default_factory=TimeoutSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    headers: dict[str, str] = Field(
        default_factory=dict, description="Headers sent on every call (JSON object)."
    )
    max_connections: int = Field(100, ge=1, description="Connections in the pool, at most.")
    max_keepalive_connections: int = Field(20, ge=0, description="Idle connections kept.")
    verify: bool = Field(True, description="Verify TLS certificates.")
    readiness: bool = Field(
        False,
        description="Readiness fails (503) while this service's breaker is open. Off by "
        "default: taking every replica out of the load balancer because a dependency is "
        "down turns one failure into two.",
    )

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return check_url(value, allow_path=True)


class ClientSettings(PluginSettings):
    """Settings of the client plugin (``[client]`` in TOML, ``CHASSIS_CLIENT__*``)."""

    services: dict[str, ServiceSettings] = Field(
        default_factory=dict, description="Downstream services by name."
    )
    require: CommaList = Field(
        default_factory=list,
        description="Service names the application calls: start-up fails unless each is "
        "configured (the application can also call chassis_client.require(app, name)).",
    )
    deadline_header: str | None = Field(
        "Request-Timeout",
        pattern=r"^[A-Za-z0-9-]+$",
        description="Header carrying the caller's remaining time in milliseconds, read on "
        "incoming requests and sent on outgoing calls; empty: neither.",
    )

    @field_validator("services", mode="before")
    @classmethod
    def _lower_names(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(name).lower(): section for name, section in value.items()}
        return value

    @field_validator("services")
    @classmethod
    def _names(cls, value: dict[str, ServiceSettings]) -> dict[str, ServiceSettings]:
        for name in value:
            if not SERVICE_NAME.match(name):
                raise ValueError(
                    f"service name {name!r}: use letters, digits, '_' and '-', "
                    "starting with a letter"
                )
        return value

    @field_validator("require", mode="after")
    @classmethod
    def _lower_required(cls, value: list[str]) -> list[str]:
        return [name.lower() for name in value]

    @field_validator("deadline_header", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


def check_url(value: str, *, allow_path: bool) -> str:
    """An absolute http(s) URL with a host, no query and no fragment; else a ``ValueError``
    that says what is wrong (never echoing credentials)."""
    import httpx

    if any(char.isspace() or ord(char) < 32 for char in value.strip()):
        raise ValueError("not a valid URL (it contains spaces or control characters)")
    try:
        url = httpx.URL(value.strip())
    except (httpx.InvalidURL, TypeError) as error:
        raise ValueError(f"not a valid URL ({error})") from None
    if url.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not url.host:
        raise ValueError("must name a host")
    if url.query or url.fragment:
        raise ValueError("must not have a query or fragment")
    if not allow_path and url.path not in ("", "/"):
        raise ValueError("must not have a path")
    return str(url)
