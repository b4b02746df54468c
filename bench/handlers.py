"""The handlers every benchmarked app serves: the same code for bare Connexion and chassis.

``bench/spec.yaml`` caps the list at 100 items; the async-app benchmark (``bench/bench_async.py``)
lists up to 1,000 and serves the ``async def`` twins to apps that run on the event loop.
"""

from __future__ import annotations

from typing import Any


def _item(item_id: int) -> dict[str, Any]:
    return {
        "id": item_id,
        "address": f"{item_id} Church Lane",
        "postcode": "GL7 5AB",
        "community": "Winson",
        "rfs": True,
        "rfs_date": "2021-04-01",
        "business": False,
        "bduk": True,
        "segment": "S2",
        "notes": "delivered",
    }


ITEMS = [_item(number) for number in range(1, 1001)]


def get_item(item_id: int) -> dict[str, Any]:
    return _item(item_id)


def list_items(limit: int = 100) -> list[dict[str, Any]]:
    return ITEMS[:limit]


async def get_item_async(item_id: int) -> dict[str, Any]:
    return _item(item_id)


async def list_items_async(limit: int = 100) -> list[dict[str, Any]]:
    return ITEMS[:limit]
