"""Operations of the test app: each calls the downstream service "down" through chassis_client."""

from __future__ import annotations

from typing import Any

import chassis_client


def _answer(response: Any) -> dict[str, Any]:
    return {"status": response.status_code, "body": response.json()}


def sync_get(path: str) -> dict[str, Any]:
    return _answer(chassis_client.client("down").get(f"/{path}"))


async def async_get(path: str) -> dict[str, Any]:
    return _answer(await chassis_client.async_client("down").get(f"/{path}"))


def sync_post(key: str | None = None) -> dict[str, Any]:
    headers = {"Idempotency-Key": key} if key else {}
    return _answer(chassis_client.client("down").post("/orders", json={"n": 1}, headers=headers))


async def async_post(key: str | None = None) -> dict[str, Any]:
    headers = {"Idempotency-Key": key} if key else {}
    client = chassis_client.async_client("down")
    return _answer(await client.post("/orders", json={"n": 1}, headers=headers))
