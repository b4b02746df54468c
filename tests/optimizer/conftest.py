"""Fixtures of the optimizer's tests: apps on the test spec, a real Redis, view call counts."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import chassis
import chassis_optimizer
import optimizer_views
import pytest
from optimizer_support import REDIS_HOST, REDIS_PORT, SPEC, AppMaker, Settings


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    optimizer_views.calls.clear()
    optimizer_views.gates.clear()
    optimizer_views.RECORDS.clear()
    optimizer_views.RECORDS.update(
        {number: {"id": number, "name": f"record {number}"} for number in (1, 2, 3)}
    )


@pytest.fixture
def make_app(make_chassis_app: Callable[..., chassis.App]) -> AppMaker:
    """``make_app(optimizer={...}, settings={...core...}, plugins={...})``: the test spec on an
    app with the optimizer (and only the plugins given)."""

    def factory(
        optimizer: dict[str, Any] | None = None,
        *,
        settings: dict[str, Any] | None = None,
        plugins: dict[str, Any] | None = None,
        **api_options: Any,
    ) -> chassis.App:
        merged = {**(settings or {}), "optimizer": dict(optimizer or {})}
        return make_chassis_app(
            spec=SPEC,
            settings=merged,
            plugins={"optimizer": chassis_optimizer, **(plugins or {})},
            api_options=api_options,
        )

    return factory


@pytest.fixture
def client(make_app: AppMaker) -> Iterator[Any]:
    """A client of an app with the default settings."""
    with make_app().test_client() as test_client:
        yield test_client


def redis_reachable() -> bool:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The real Redis on 127.0.0.1:6379 (skipped when unreachable, failed when CI=true)."""
    if not redis_reachable():
        reason = f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the Redis tests must run)")
        pytest.skip(reason)
    yield f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


@pytest.fixture(params=["memory", "redis"])
def cache(request: pytest.FixtureRequest) -> Settings:
    """Optimizer settings for each backend: ``cache(**more)``."""
    if request.param == "memory":
        return lambda **more: dict(more)
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("key_prefix")
    return lambda **more: {"cache_url": url, "cache_key_prefix": prefix, **more}
