"""Names the optimizer's tests import (a module of its own: several conftests share the name
"conftest", so importing from one is order-dependent)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import chassis
from chassis_test_support import free_port

SPEC = Path(__file__).parent / "optimizer_spec.yaml"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379

AppMaker = Callable[..., chassis.App]
Settings = Callable[..., dict[str, Any]]
"""Optimizer settings of one backend (the ``cache`` fixture): ``cache(**more)``."""


def status(response: Any) -> str:
    """``hit``, ``stored`` (a miss that was stored), ``bypass`` or ``miss``."""
    value = response.headers["cache-status"]
    if "; hit" in value:
        return "hit"
    if "fwd=bypass" in value:
        return "bypass"
    return "stored" if value.endswith("; stored") else "miss"


__all__ = ["REDIS_HOST", "REDIS_PORT", "SPEC", "AppMaker", "Settings", "free_port", "status"]
