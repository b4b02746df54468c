"""Apps on the test spec with the idempotency plugin, on both app classes and both stores."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import chassis
import chassis_idempotency
import idempotency_views
import pytest
from idempotency_support import SPEC, AppMaker, StoreSettings


@pytest.fixture
def chassis_app_class(app_class: type[chassis.BaseApp]) -> type[chassis.BaseApp]:
    """``make_chassis_app`` builds every app class (tests/conftest.py's ``app_class``)."""
    return app_class


@pytest.fixture(autouse=True)
def _reset_views() -> Iterator[None]:
    idempotency_views.reset()
    yield
    idempotency_views.gate.set()  # never leave a handler waiting


@pytest.fixture
def make_app(make_chassis_app: Callable[..., Any]) -> AppMaker:
    """``make_app(idempotency={...}, settings={...core...}, plugins={...})``."""

    def factory(
        idempotency: dict[str, Any] | None = None,
        *,
        settings: dict[str, Any] | None = None,
        plugins: dict[str, Any] | None = None,
        spec: Any = SPEC,
    ) -> Any:
        merged = {**(settings or {}), "idempotency": dict(idempotency or {})}
        return make_chassis_app(
            spec=spec,
            settings=merged,
            plugins={"idempotency": chassis_idempotency, **(plugins or {})},
        )

    return factory


@pytest.fixture
def redis_store(redis_url: str, key_prefix: str) -> StoreSettings:
    """Settings of the Redis store on the real Redis, under this test's prefix."""
    return lambda **more: {"store_url": redis_url, "key_prefix": key_prefix, **more}


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> StoreSettings:
    """Idempotency settings for each store: ``store(**more)``."""
    if request.param == "memory":
        return lambda **more: dict(more)
    redis_settings: StoreSettings = request.getfixturevalue("redis_store")
    return redis_settings
