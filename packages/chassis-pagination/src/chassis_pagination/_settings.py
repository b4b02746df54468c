"""Settings of the pagination plugin (``[pagination]``, ``CHASSIS_PAGINATION__*``) and the
per-operation options of the ``x-chassis-pagination`` OpenAPI extension."""

from __future__ import annotations

from typing import Any

import chassis
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

OFFSET_CEILING = 2**53 - 1
"""The largest offset accepted at all (JavaScript's largest exact integer; far below BIGINT)."""


def _check_limits(default_limit: int | None, max_limit: int | None, where: str) -> None:
    if default_limit is not None and max_limit is not None and default_limit > max_limit:
        raise ValueError(
            f"{where}default_limit ({default_limit}) must not exceed max_limit ({max_limit})"
        )


class PaginationSettings(chassis.PluginSettings):
    """``settings.pagination``: page sizes, totals and the cursor signing secret."""

    default_limit: int = Field(25, ge=1, description="Page size when the request gives no `limit`.")
    max_limit: int = Field(
        100, ge=1, description="Largest `limit` accepted; a larger one is a 400."
    )
    max_offset: int | None = Field(
        None,
        ge=0,
        le=OFFSET_CEILING,
        description="Deepest `offset` accepted (a 400 beyond it points to cursor pagination). "
        "Unset: any offset up to 2**53-1.",
    )
    total: bool = Field(
        False,
        description="Count the rows (COUNT(*)) of every paginated listing and send "
        "X-Total-Count and meta.pagination.total. Costly on big tables: prefer turning it on "
        "per operation (x-chassis-pagination: {total: true}).",
    )
    total_header: str = Field(
        "X-Total-Count", pattern=r"^[A-Za-z0-9-]+$", description="Header carrying the total."
    )
    cursor_secret: SecretStr | None = Field(
        None,
        description="Key that signs cursors (HMAC-SHA256). Set the same value on every replica. "
        "Unset: a random key per process (cursors break across processes and restarts).",
    )

    @model_validator(mode="after")
    def _limits(self) -> PaginationSettings:
        if "default_limit" not in self.model_fields_set:
            # Only max_limit given (say 10): the default page size follows it down.
            self.default_limit = min(self.default_limit, self.max_limit)
        _check_limits(self.default_limit, self.max_limit, "pagination.")
        if self.cursor_secret is not None and len(self.cursor_secret.get_secret_value()) < 16:
            raise ValueError("pagination.cursor_secret must be at least 16 characters long")
        return self


class OperationOptions(BaseModel):
    """The ``x-chassis-pagination`` extension of one operation (every field optional)."""

    model_config = ConfigDict(extra="forbid")

    default_limit: int | None = Field(None, ge=1)
    max_limit: int | None = Field(None, ge=1)
    max_offset: int | None = Field(None, ge=0, le=OFFSET_CEILING)
    total: bool | None = None

    @model_validator(mode="after")
    def _limits(self) -> OperationOptions:
        _check_limits(self.default_limit, self.max_limit, "")
        return self

    def overrides(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)
