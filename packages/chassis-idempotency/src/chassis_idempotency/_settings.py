"""Settings of the idempotency plugin (``[idempotency]``, ``CHASSIS_IDEMPOTENCY__*``) and the
per-operation options of the ``x-chassis-idempotency`` OpenAPI extension."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import chassis
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, field_validator

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: Any) -> Any:
    """``90``, ``"90"``, ``"90s"``, ``"15m"``, ``"24h"``, ``"7d"``, ``"500ms"``: seconds."""
    if isinstance(value, bool):
        raise ValueError(f"must be a duration such as 30s, 15m, 24h or 7d, not {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        found = _DURATION.match(value)
        if found is None:
            raise ValueError(f"must be a duration such as 30s, 15m, 24h or 7d, not {value!r}")
        return float(found[1]) * _UNITS[found[2] or "s"]
    return value


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds, given as a number or as ``30s``, ``15m``, ``24h``, ``7d``, ``500ms``."""

DAY = 86400.0
TOKEN_CHARACTERS = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class IdempotencySettings(chassis.PluginSettings):
    """``settings.idempotency``: which requests take a key, how long responses are kept,
    where they are kept, and what happens when that store is unreachable."""

    methods: chassis.CommaList = Field(
        default_factory=lambda: ["POST", "PATCH"],
        description="Methods whose operations take an Idempotency-Key (operations opt out "
        "with x-chassis-idempotency: false, or in, whatever their method, with a mapping).",
    )
    header: str = Field(
        "Idempotency-Key", description="The request header carrying the key (IETF draft name)."
    )
    required: bool = Field(
        False,
        description="Every covered operation needs the key (a 400 without it); per operation: "
        "x-chassis-idempotency: {required: true}.",
    )
    ttl: Duration = Field(
        DAY, gt=0, description="How long a response is kept and replayed (24h, 7d, 3600...)."
    )
    lock_timeout: Duration = Field(
        60.0,
        gt=0,
        description="How long a request holds its key while it runs: after this a retry runs "
        "the handler again. Longer than the slowest handler.",
    )
    retry_after: int = Field(
        1, ge=0, description="Retry-After (seconds) of the 409 sent while the key is in flight."
    )
    max_key_length: int = Field(255, ge=1, le=4096, description="Longest key accepted.")
    max_response_bytes: int = Field(
        1024 * 1024,
        ge=0,
        description="Largest response body stored: a larger one is sent but not stored (its "
        "retry runs the handler again; logged and counted).",
    )
    store_url: SecretStr | None = Field(
        None,
        description="redis://, rediss:// or unix:// URL of the store shared by every worker "
        "and replica; unset (or memory://): this process's memory.",
    )
    key_prefix: str | None = Field(
        None,
        description="Prefix of the store's keys; unset: chassis:idempotency:<service_name>:.",
    )
    on_store_error: Literal["reject", "proceed"] = Field(
        "reject",
        description="The store is unreachable: reject requests carrying a key with a 503 "
        "(reject), or serve them without idempotency, logged and counted (proceed).",
    )
    store_timeout: Duration = Field(
        0.5, gt=0, description="Seconds a call to Redis may take (connect and answer)."
    )
    retry_interval: Duration = Field(
        2.0,
        ge=0,
        description="After a failed call, seconds the store is not tried again (requests are "
        "rejected or proceed at once).",
    )
    replay_header: str = Field(
        "Idempotent-Replayed",
        description="Header set to 'true' on a replayed response; empty: none.",
    )
    memory_max_entries: int = Field(
        10_000, ge=1, description="In-memory store: most responses kept (oldest dropped)."
    )

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: list[str]) -> list[str]:
        methods = [method.strip().upper() for method in value if method.strip()]
        unsafe = {"POST", "PUT", "PATCH", "DELETE"}
        for method in methods:
            if method not in unsafe:
                raise ValueError(
                    f"{method!r} is not a method to make idempotent: use POST, PUT, PATCH or DELETE"
                )
        return methods

    @field_validator("header")
    @classmethod
    def _header(cls, value: str) -> str:
        if not TOKEN_CHARACTERS.match(value):
            raise ValueError(f"{value!r} is not a header name")
        return value

    @field_validator("replay_header")
    @classmethod
    def _replay_header(cls, value: str) -> str:
        if value and not TOKEN_CHARACTERS.match(value):
            raise ValueError(f"{value!r} is not a header name")
        return value


class OperationOptions(BaseModel):
    """The ``x-chassis-idempotency`` extension of one operation: ``true``, ``false``, or
    ``{required: true, ttl: 24h, enabled: true}`` (every field optional)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    required: bool | None = None
    ttl: Duration | None = Field(None, gt=0)
