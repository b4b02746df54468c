"""Names the rate-limit tests import (a module of its own: conftests share the name)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

AppMaker = Callable[..., Any]
