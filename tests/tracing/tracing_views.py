"""Handlers of the test API (tracing_api.yaml)."""

from __future__ import annotations

import logging
from typing import Any

import chassis
import chassis_tracing
import httpx
import requests
from opentelemetry import trace

log = logging.getLogger("tracing_views")


def get_item(item_id: int) -> dict[str, Any]:
    log.info("loading item %s", item_id)
    return {"id": item_id}


def create_item(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    return body, 201


def fail() -> None:
    raise RuntimeError("boom")


def child() -> dict[str, Any]:
    with chassis_tracing.get_tracer(__name__).start_as_current_span("load item") as span:
        span.set_attribute("item.count", 1)
        log.warning("inside the child span")
    return {"ok": True}


def global_child() -> dict[str, Any]:
    with trace.get_tracer(__name__).start_as_current_span("global child"):
        pass
    return {"ok": True}


def secure() -> dict[str, Any]:
    return {"ok": True}


def api_key_info(token: str, required_scopes: Any = None) -> dict[str, Any] | None:
    return {"sub": "someone"} if token == "good" else None


def token_info(token: str) -> dict[str, Any] | None:
    return {"sub": "reader", "scope": ["read"]} if token == "reader" else None


def secure_admin() -> dict[str, str]:
    return {"ok": "admin"}


def outgoing() -> dict[str, str]:
    return chassis.outgoing_headers()


def relay(url: str, client: str) -> Any:
    if client == "requests":
        return requests.get(url, headers=chassis.outgoing_headers(), timeout=5).json()
    with httpx.Client(event_hooks={"request": [chassis_tracing.httpx_request_hook]}) as http:
        return http.get(url, timeout=5).json()


def log_levels() -> dict[str, Any]:
    log.debug("debug line")
    log.info("info line")
    log.warning("warning line")
    try:
        raise ValueError("handled")
    except ValueError:
        log.exception("handled error")
    return {"ok": True}
