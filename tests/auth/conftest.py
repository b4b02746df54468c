"""Shared set-up of the auth plugin's tests: a spec with every kind of security scheme."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import chassis_auth
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from auth_spec import SPEC


@pytest.fixture
def auth_app(make_chassis_app: Callable[..., Any], auth_issuer: Any) -> Callable[..., Any]:
    """Build an app with the auth plugin trusting ``auth_issuer``; kwargs are [auth] settings."""

    def build(*, settings: dict[str, Any] | None = None, **auth: Any) -> Any:
        merged = {**auth_issuer.settings(**auth), **(settings or {})}
        return make_chassis_app(spec=SPEC, settings=merged, plugins=[chassis_auth])

    return build


@pytest.fixture
def client(auth_app: Callable[..., Any]) -> Iterator[Any]:
    with auth_app().test_client() as test_client:
        yield test_client
