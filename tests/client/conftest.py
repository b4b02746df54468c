"""Shared set-up of the client plugin's tests: a real downstream server and an app calling it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import chassis
import chassis_client
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from client_spec import SPEC
from client_support import Downstream, serve, service_settings


@pytest.fixture
def chassis_app_class(app_class: type[chassis.BaseApp]) -> type[chassis.BaseApp]:
    return app_class


@pytest.fixture
def downstream() -> Iterator[Downstream]:
    service = Downstream()
    with serve(service) as url:
        service.url = url
        yield service


@pytest.fixture
def client_app(make_chassis_app: Callable[..., Any], downstream: Downstream) -> Callable[..., Any]:
    """``client_app(**service_settings)``: an app whose service "down" is ``downstream``;
    ``plugins=`` adds plugins, ``client=`` other client settings, ``settings=`` other
    sections, ``app_options=`` keywords of the app class."""

    def build(
        *,
        plugins: tuple[Any, ...] = (),
        settings: dict[str, Any] | None = None,
        client: dict[str, Any] | None = None,
        app_options: dict[str, Any] | None = None,
        **service: Any,
    ) -> Any:
        section = {"services": {"down": service_settings(downstream.url, **service)}}
        merged = {"client": {**section, **(client or {})}, **(settings or {})}
        return make_chassis_app(
            spec=SPEC, settings=merged, plugins=[chassis_client, *plugins], **(app_options or {})
        )

    return build
