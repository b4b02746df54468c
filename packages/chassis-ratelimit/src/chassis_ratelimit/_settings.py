"""Settings of the rate-limit plugin (``[ratelimit]``, ``CHASSIS_RATELIMIT__*``)."""

from __future__ import annotations

import ipaddress
import json
from typing import Annotated, Any

import chassis
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from ._policy import KEY_SOURCES, KeySource, parse_key, parse_policies

STORAGE_SCHEMES = ("memory", "redis", "rediss", "unix")


def _json_or_text(value: Any) -> Any:
    """From the environment a list or a mapping comes as JSON; a limit may be plain text."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "[{" or text in ("false", "true"):
            try:
                return json.loads(text)
            except ValueError:
                return value
    return value


class RateLimitSettings(chassis.PluginSettings):
    """``settings.ratelimit``: where counts live, what is limited, and by which key."""

    storage_url: SecretStr = Field(
        SecretStr("memory://"),
        description="memory:// (one process) or redis://, rediss://, unix:// (shared by every "
        "worker and replica).",
    )
    key_prefix: str | None = Field(
        None,
        description="Prefix of the Redis keys (a colon follows it). "
        "Unset: chassis:ratelimit:<service_name>",
    )
    default_limits: Annotated[Any, NoDecode] = Field(
        None,
        description="Limits of every operation that declares none (x-chassis-ratelimit): "
        "'100/minute', a list of {limit, per}, or unset (none).",
    )
    overrides: Annotated[dict[str, Any], NoDecode] = Field(
        default_factory=dict,
        description="Limits replacing an operation's, by operationId or 'METHOD /path' "
        '(JSON from the environment: {"list_csv": "5/second"}); false: no limit.',
    )
    key_by: Annotated[list[KeySource], NoDecode] = Field(
        default_factory=lambda: list(KEY_SOURCES),
        description="What requests are counted by, the first available wins: subject (the "
        "authenticated principal), api_key (the api_key_header's value), address (the "
        "client's IP address).",
    )
    api_key_header: str = Field(
        "X-API-Key",
        pattern=r"^[A-Za-z0-9-]+$",
        description="Header carrying the API key (key_by api_key).",
    )
    trusted_proxies: chassis.CommaList = Field(
        default_factory=list,
        description="Addresses or networks (10.0.0.0/8) of proxies whose X-Forwarded-For is "
        "believed. Empty: the connection's peer address is the client's, header ignored.",
    )
    forwarded_header: str = Field(
        "X-Forwarded-For",
        pattern=r"^[A-Za-z0-9-]+$",
        description="Header the trusted proxies append the client's address to.",
    )
    ipv6_prefix: int = Field(
        64,
        ge=1,
        le=128,
        description="IPv6 clients are counted per network of this prefix length (one "
        "subscriber usually holds a whole /64).",
    )
    exclude_paths: chassis.PathPatternList = Field(
        default_factory=list,
        description="Paths never limited (the probes and /metrics never are).",
    )
    headers: bool = Field(
        True,
        description="RateLimit and RateLimit-Policy on allowed responses too (a 429 always "
        "has them).",
    )
    fail_open: bool = Field(
        True,
        description="Storage unreachable: serve the requests unchecked (true) or refuse "
        "them with 503 (false).",
    )
    storage_timeout: float = Field(
        0.25, gt=0, description="Seconds a call to Redis may take before it counts as failed."
    )
    retry_interval: float = Field(
        1.0,
        ge=0,
        description="After a failure, seconds without calls to Redis before the next try.",
    )
    warn_interval: float = Field(
        60.0, ge=0, description="A storage failure is logged at most this often (seconds)."
    )

    @field_validator("default_limits", mode="before")
    @classmethod
    def _default_limits(cls, value: Any) -> Any:
        value = _json_or_text(value)
        parse_policies(value)
        return value

    @field_validator("overrides", mode="before")
    @classmethod
    def _overrides(cls, value: Any) -> Any:
        value = _json_or_text(value)
        if not isinstance(value, dict):
            raise ValueError(
                'a mapping of operationId (or \'METHOD /path\') to limits, {"list_csv": "5/second"}'
            )
        for name, declared in value.items():
            try:
                parse_policies(declared)
            except ValueError as error:
                raise ValueError(f"{name}: {error}") from None
        return value

    @field_validator("key_by", mode="before")
    @classmethod
    def _key_by(cls, value: Any) -> Any:
        value = _json_or_text(value)
        found = parse_key(value)
        if not found:
            raise ValueError(f"one or more of {', '.join(KEY_SOURCES)}")
        return list(found)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (10.0.0.0/8, ::1)"
                ) from None
        return value

    @field_validator("storage_url")
    @classmethod
    def _storage(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        if scheme not in STORAGE_SCHEMES:
            raise ValueError(
                "must be memory://, or a redis://, rediss:// or unix:// URL (got "
                + (f"a {scheme}:// URL" if scheme else "a value without a scheme")
                + ")"
            )
        if scheme != "memory":
            _check_redis_url(url)
        return value


def _check_redis_url(url: str) -> None:
    """A Redis URL that cannot work stops start-up (no connection is made yet)."""
    try:
        from redis.asyncio import ConnectionPool
    except ImportError:
        raise ValueError(
            "limits in Redis need the redis package: pip install 'chassis-ratelimit[redis]'"
        ) from None
    try:
        ConnectionPool.from_url(url)  # parses the URL; connects on first use
    except ValueError as error:
        # The error names the part at fault; the URL itself may hold a password.
        raise ValueError(f"not a valid Redis URL: {str(error).replace(url, '<url>')}") from None
