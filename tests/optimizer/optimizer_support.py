"""Names the optimizer's tests import (a module of its own: several conftests share the name
"conftest", so importing from one is order-dependent)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import chassis
from chassis_test_support import free_port

SPEC = Path(__file__).parent / "optimizer_spec.yaml"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379

AppMaker = Callable[..., chassis.App]

__all__ = ["REDIS_HOST", "REDIS_PORT", "SPEC", "AppMaker", "free_port"]
