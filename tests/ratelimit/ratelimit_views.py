"""Handlers of the rate-limit tests: each counts its calls."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

SPEC = Path(__file__).with_name("ratelimit_spec.yaml")

calls: Counter[str] = Counter()

KEYS = {"alice-key": "alice", "bob-key": "bob"}


def check_key(key: str, required_scopes: Any = None) -> dict[str, Any] | None:
    user = KEYS.get(key)
    return {"sub": user} if user is not None else None


def _called(name: str) -> dict[str, str]:
    calls[name] += 1
    return {"operation": name}


def limited() -> dict[str, str]:
    return _called("limited")


def burst() -> dict[str, str]:
    return _called("burst")


def text_limit() -> dict[str, str]:
    return _called("text")


def by_address() -> dict[str, str]:
    return _called("by_address")


def open_operation() -> dict[str, str]:
    return _called("open")


def opted_out() -> dict[str, str]:
    return _called("opted_out")


def secure(user: str) -> dict[str, str]:
    calls["secure"] += 1
    return {"user": user}


def create_item(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    calls["create_item"] += 1
    return body, 201
