"""Apps on the rate-limit test spec, on both app classes, with memory or a real Redis
(each test under a key prefix of its own)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import chassis
import chassis_ratelimit
import pytest
import ratelimit_views
from ratelimit_support import AppMaker
from ratelimit_views import SPEC


@pytest.fixture
def chassis_app_class(app_class: type[chassis.BaseApp]) -> type[chassis.BaseApp]:
    return app_class


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    ratelimit_views.calls.clear()


@pytest.fixture
def key_prefix() -> str:
    """A Redis key prefix of the test's own: tests of other engineers share the server."""
    return f"test:ratelimit:{uuid.uuid4().hex}"


@pytest.fixture
def make_app(make_chassis_app: Callable[..., Any]) -> AppMaker:
    """``make_app(ratelimit={...}, settings={...core...}, plugins={...})``."""

    def factory(
        ratelimit: dict[str, Any] | None = None,
        *,
        settings: dict[str, Any] | None = None,
        plugins: dict[str, Any] | None = None,
        spec: Any = SPEC,
    ) -> Any:
        merged = {**(settings or {}), "ratelimit": dict(ratelimit or {})}
        return make_chassis_app(
            spec=spec,
            settings=merged,
            plugins={"ratelimit": chassis_ratelimit, **(plugins or {})},
        )

    return factory


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest, key_prefix: str) -> dict[str, Any]:
    """The ratelimit settings of a storage: in memory, or the real Redis."""
    if request.param == "memory":
        return {"storage_url": "memory://"}
    redis_url = request.getfixturevalue("redis_url")
    return {"storage_url": redis_url, "key_prefix": key_prefix}
