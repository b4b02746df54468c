"""The same operations as ``api.py`` as ``async def`` handlers, for ``create_async_app``:
awaited on the async engine (aiosqlite, psycopg's async mode) of chassis-sqlalchemy."""

from __future__ import annotations

from typing import Any

from chassis_pagination import paginate_async
from chassis_sqlalchemy import async_session
from connexion import ProblemException

from .api import csv_response, filtered, parse_date
from .lookup import address_answer, async_address_client, lookup_params
from .models import Premises


async def list_premises(
    offset: int | None = None, limit: int | None = None, **filters: Any
) -> list[dict[str, object]]:
    page = await paginate_async(filtered(**filters), async_session(), offset=offset, limit=limit)
    return [row.to_dict() for row in page]


async def get_premises(premises_id: int) -> dict[str, object]:
    row = await async_session().get(Premises, premises_id)
    if row is None:
        raise ProblemException(
            status=404, title="Not Found", detail=f"no premises with id {premises_id}"
        )
    return row.to_dict()


async def create_premises(body: dict[str, Any]) -> tuple[dict[str, object], int, dict[str, str]]:
    values = dict(body)
    if values.get("rfs_date") is not None:
        values["rfs_date"] = parse_date(values["rfs_date"], "rfs_date")
    row = Premises(**values)
    session = async_session()
    session.add(row)
    await session.flush()  # the id; committed with the 201 (chassis-sqlalchemy)
    created = row.to_dict()
    return created, 201, {"Location": f"/premises/{created['id']}"}


async def directmail_csv(**filters: Any) -> tuple[str, int, dict[str, str]]:
    return csv_response(await async_session().scalars(filtered(**filters)))


async def premises_address(premises_id: int) -> dict[str, object]:
    """``api.premises_address`` with chassis-client's async client, on the server's loop."""
    premises = await get_premises(premises_id)
    address = async_address_client()
    params = lookup_params(premises)
    response = None if address is None else await address.get("/addresses", params=params)
    return address_answer(premises, response)
