"""Operation handlers named by the spec's operationIds."""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Iterable
from typing import Any

from chassis_pagination import paginate
from chassis_sqlalchemy import session
from connexion import ProblemException
from sqlalchemy import Select, select

from .lookup import address_answer, address_client, lookup_params
from .models import Premises

CSV_COLUMNS = [
    "id",
    "address",
    "postcode",
    "community",
    "rfs",
    "rfs_date",
    "business",
    "bduk",
    "segment",
]


def _split(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def filtered(
    communities: str | None = None,
    rfs: bool | None = None,
    rfs_date_before: datetime.date | str | None = None,
    rfs_date_after: datetime.date | str | None = None,
    business: bool | None = None,
    bduk: bool | None = None,
    segments: str | None = None,
) -> Select[Premises]:
    """The premises query for the filters every listing endpoint shares."""
    query = select(Premises).order_by(Premises.id)
    if names := _split(communities):
        query = query.where(Premises.community.in_(names))
    if rfs is not None:
        query = query.where(Premises.rfs.is_(rfs))
    if rfs_date_before is not None:
        query = query.where(Premises.rfs_date < parse_date(rfs_date_before, "rfs_date_before"))
    if rfs_date_after is not None:
        query = query.where(Premises.rfs_date >= parse_date(rfs_date_after, "rfs_date_after"))
    if business is not None:
        query = query.where(Premises.business.is_(business))
    if bduk is not None:
        query = query.where(Premises.bduk.is_(bduk))
    if names := _split(segments):
        query = query.where(Premises.segment.in_(names))
    return query


def parse_date(value: datetime.date | str, name: str) -> datetime.date:
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise ProblemException(
            status=400, title="Bad Request", detail=f"{name} must be a date as YYYY-MM-DD"
        ) from None


def list_premises(
    offset: int | None = None, limit: int | None = None, **filters: Any
) -> list[dict[str, object]]:
    """One page of premises; the ``Link`` header (chassis-pagination) points to the others."""
    page = paginate(filtered(**filters), session(), offset=offset, limit=limit)
    return [row.to_dict() for row in page]


def get_premises(premises_id: int) -> dict[str, object]:
    row = session().get(Premises, premises_id)
    if row is None:
        raise ProblemException(
            status=404, title="Not Found", detail=f"no premises with id {premises_id}"
        )
    return row.to_dict()


def create_premises(body: dict[str, Any]) -> tuple[dict[str, object], int, dict[str, str]]:
    """``POST /premises``: needs a bearer token with scope ``premises:write`` (chassis-auth)."""
    values = dict(body)
    if values.get("rfs_date") is not None:
        values["rfs_date"] = parse_date(values["rfs_date"], "rfs_date")
    row = Premises(**values)
    session().add(row)
    session().flush()  # the id; committed with the 201 (chassis-sqlalchemy)
    created = row.to_dict()
    return created, 201, {"Location": f"/premises/{created['id']}"}


def directmail_csv(**filters: Any) -> tuple[str, int, dict[str, str]]:
    return csv_response(session().scalars(filtered(**filters)))


def csv_response(rows: Iterable[Premises]) -> tuple[str, int, dict[str, str]]:
    """The CSV download of ``rows`` (both handler modules)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row.to_dict())
    return (
        buffer.getvalue(),
        200,
        {
            "Content-Type": "text/csv",
            "Content-Disposition": 'attachment; filename="directmail.csv"',
        },
    )


def premises_address(premises_id: int) -> dict[str, object]:
    """The premises' address and the address-lookup service's match for its postcode.

    The call goes through chassis-client: pooled, with the request id, trace context and time
    left; retried if the service fails; refused at once (a 503 naming the service) while its
    circuit breaker is open.
    """
    premises = get_premises(premises_id)
    address = address_client()
    response = (
        None if address is None else address.get("/addresses", params=lookup_params(premises))
    )
    return address_answer(premises, response)
