"""Names the idempotency tests import (a module of its own: conftests share the name)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

SPEC = Path(__file__).parent / "idempotency_spec.yaml"

AppMaker = Callable[..., Any]
StoreSettings = Callable[..., dict[str, Any]]
"""Idempotency settings of one store (the ``store`` fixture): ``store(**more)``."""

# Header fields that differ between two answers of the same stored response.
PER_RESPONSE = {"x-request-id", "idempotent-replayed", "date"}


def same_response(first: Any, second: Any) -> bool:
    """Whether two httpx responses are the same stored response: status, body, and every
    header field but the per-response ones."""

    def fields(response: Any) -> list[tuple[str, str]]:
        return sorted((k, v) for k, v in response.headers.items() if k not in PER_RESPONSE)

    return (
        first.status_code == second.status_code
        and first.content == second.content
        and fields(first) == fields(second)
    )


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}
