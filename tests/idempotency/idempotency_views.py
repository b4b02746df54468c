"""Handlers of the idempotency tests: each counts its executions (across threads)."""

from __future__ import annotations

import threading
import time
from typing import Any

from connexion.exceptions import ProblemException

lock = threading.Lock()
executions: dict[str, int] = {}
gate = threading.Event()
"""Set by a test to let handlers called with ``wait: true`` finish."""
entered = threading.Event()
"""Set when ``create_order`` has started."""


def count(name: str) -> int:
    with lock:
        executions[name] = executions.get(name, 0) + 1
        return executions[name]


def reset() -> None:
    with lock:
        executions.clear()
    gate.clear()
    entered.clear()


def create_order(body: dict[str, Any] | None = None, note: str | None = None) -> Any:
    body = body or {}
    number = count("create_order")
    entered.set()
    if body.get("wait"):
        gate.wait(10)
    if body.get("explode"):
        raise RuntimeError("the handler failed")
    if body.get("sleep"):
        time.sleep(float(body["sleep"]))
    status = int(body.get("status", 201))
    result: dict[str, Any] = {"id": number, "item": body.get("item"), "note": note}
    if body.get("size"):
        result["padding"] = "x" * int(body["size"])
    return result, status, {"Location": f"/orders/{number}", "X-Order": str(number)}


def list_orders() -> Any:
    count("list_orders")
    return []


def put_thing(thing_id: int, body: dict[str, Any] | None = None) -> Any:
    number = count("put_thing")
    return {"thing": thing_id, "version": number}, 200


def patch_thing(thing_id: int, body: dict[str, Any] | None = None) -> Any:
    number = count("patch_thing")
    return {"thing": thing_id, "patched": number}, 200


def delete_thing(thing_id: int) -> Any:
    count("delete_thing")
    return {"deleted": thing_id}, 200


def missing_order(body: dict[str, Any] | None = None) -> Any:
    number = count("missing_order")
    raise ProblemException(status=404, title="Not Found", detail=f"no such order (call {number})")


# One handler per operation id (Flask endpoints and routed layers key by it).
create_other = create_order
create_required = create_order
create_opted_out = create_order
create_secure = create_order
