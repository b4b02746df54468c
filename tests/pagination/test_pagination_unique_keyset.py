"""A keyset must identify a row, or rows tying on the values a page ends with are skipped by
the next page: six rows sorted by a score that two of them share came back as five. Where the
table's metadata shows the keyset is not unique, ``paginate`` refuses it up front, naming the
columns and the keyset to use; on SQLite and the real PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import chassis_pagination
import pytest
from chassis_pagination import paginate, paginate_async, with_components
from connexion.resolver import Resolver
from pagination_support import async_engine, follow
from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, aliased, mapped_column
from sqlalchemy.pool import NullPool

# Six rows; the last two share score 5, so [score] pages of five end inside the tie.
ROWS = [
    {"id": n, "score": score, "code": f"c{n}", "slug": f"s{n}", "email": None, "part": n // 6}
    for n, score in zip(range(1, 7), [1, 2, 3, 4, 5, 5], strict=True)
]


@dataclass
class Six:
    engine: Engine
    base: type[DeclarativeBase]
    item: Any

    @property
    def name(self) -> str:
        return str(self.item.__tablename__)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def six(request: pytest.FixtureRequest) -> Iterator[Six]:
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")
    table = f"chassis_pagination_six_{uuid.uuid4().hex[:12]}"

    class Base(DeclarativeBase):
        pass

    class Item(Base):
        __tablename__ = table
        __table_args__ = (UniqueConstraint("code"),)
        id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
        score: Mapped[int] = mapped_column(Integer)
        code: Mapped[str] = mapped_column(String(10))  # unique constraint, NOT NULL
        slug: Mapped[str] = mapped_column(String(10), unique=True, index=True)  # unique index
        email: Mapped[str | None] = mapped_column(String(40), unique=True)  # may hold NULLs
        part: Mapped[int] = mapped_column(Integer)

    # Unique only where part = 1 (one row): not a key of the table (five rows have part 0).
    Index(
        f"{table}_part",
        Item.part,
        unique=True,
        postgresql_where=Item.part == 1,
        sqlite_where=Item.part == 1,
    )
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        session.execute(insert(Item), ROWS)
    yield Six(engine, Base, Item)
    Base.metadata.drop_all(engine)


def walk(six: Six, keyset: list[Any], source: Any = None, limit: int = 5) -> list[int]:
    """Every page of the listing, following next cursors; the ids in order."""
    statement = select(six.item) if source is None else source
    seen: list[int] = []
    cursor = None
    with Session(six.engine) as session:
        while True:
            page = paginate(statement, session, keyset=keyset, limit=limit, cursor=cursor)
            seen.extend(row.id for row in page)
            if not page.has_next:
                return seen
            cursor = page.next_cursor


def test_a_keyset_on_a_column_with_ties_is_refused(six: Six) -> None:
    item = six.item
    with pytest.raises(ValueError) as error:
        walk(six, [item.score])
    message = str(error.value)
    assert message.startswith(f"keyset [{six.name}.score] is not unique")
    assert "rows tying on the values a page ends with would be skipped" in message
    assert f"{six.name}'s unique keys: (id), (code), (slug)" in message
    assert message.endswith(
        f"Add the primary key as the last sort key: keyset=[{six.name}.score, {six.name}.id]"
    )
    with pytest.raises(ValueError, match=rf"keyset=\[{six.name}.score.desc\(\), "):
        walk(six, [item.score.desc()])


def test_the_fix_the_error_gives_returns_every_row(six: Six) -> None:
    item = six.item
    assert walk(six, [item.score, item.id]) == [1, 2, 3, 4, 5, 6]
    assert walk(six, [item.score.desc(), item.id.desc()]) == [6, 5, 4, 3, 2, 1]
    assert walk(six, [item.score, item.id], limit=1) == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize(
    "names",
    [["id"], ["score", "id"], ["id", "score"], ["score", "code"], ["code"], ["score", "slug"]],
    ids=",".join,
)
def test_keysets_holding_a_unique_key_are_accepted(six: Six, names: list[str]) -> None:
    """The primary key, a unique constraint or a unique index of NOT NULL columns, anywhere
    in the keyset."""
    keyset = [getattr(six.item, name) for name in names]
    expected = [row["id"] for row in sorted(ROWS, key=lambda r: tuple(r[n] for n in names))]
    assert walk(six, keyset, limit=2) == expected


@pytest.mark.parametrize(
    "names",
    [["score"], ["score", "email"], ["score", "part"], ["part"]],
    ids=["a column with ties", "unique but nullable", "a partial unique index", "partial"],
)
def test_keysets_without_a_unique_key_are_refused(six: Six, names: list[str]) -> None:
    keyset = [getattr(six.item, name) for name in names]
    listed = ", ".join(f"{six.name}.{name}" for name in names)
    with pytest.raises(ValueError, match=r"is not unique") as error:
        walk(six, keyset)
    assert str(error.value).startswith(f"keyset [{listed}] is not unique")
    assert str(error.value).endswith(f"keyset=[{listed}, {six.name}.id]")


def test_legacy_query_core_rows_and_aliases_are_checked_too(six: Six) -> None:
    item = six.item
    other = aliased(item, name="other")
    with Session(six.engine) as session:
        with pytest.raises(ValueError, match=r"not unique"):
            paginate(session.query(item), keyset=[item.score], limit=5)
        with pytest.raises(ValueError, match=r"not unique"):
            paginate(select(item.id, item.score), session, keyset=[item.score], limit=5)
        with pytest.raises(ValueError, match=r"keyset \[other.score\] .*keyset=\[other.score"):
            paginate(select(other), session, keyset=[other.score], limit=5)
        page = paginate(select(other), session, keyset=[other.score, other.id], limit=6)
        assert [row.id for row in page] == [1, 2, 3, 4, 5, 6]


def test_paginate_async_refuses_it_as_well(six: Six) -> None:
    engine = async_engine(six.engine, poolclass=NullPool)

    async def run() -> None:
        try:
            async with AsyncSession(engine) as session:
                await paginate_async(select(six.item), session, keyset=[six.item.score])
        finally:
            await engine.dispose()

    with pytest.raises(ValueError, match=r"Add the primary key as the last sort key"):
        asyncio.run(run())


def test_a_table_without_a_declared_key_is_refused(six: Six) -> None:
    """Core metadata with no primary key or unique constraint cannot show uniqueness; the
    message says to declare it (nothing to run: the check comes before any SQL)."""
    bare = Table("bare", MetaData(), Column("a", Integer), Column("b", Integer))
    with Session(six.engine) as session, pytest.raises(ValueError) as error:
        paginate(select(bare), session, keyset=[bare.c.a, bare.c.b])
    message = str(error.value)
    assert message.startswith("keyset [bare.a, bare.b] is not unique")
    assert "bare's unique keys: none declared" in message
    assert "Declare bare's primary key" in message


def test_where_the_metadata_cannot_tell_nothing_is_checked(six: Six) -> None:
    """An expression, or the column of a subquery, says nothing about uniqueness: the keyset
    is used as given (the README says so), and ties in it skip rows."""
    item = six.item
    listing = select(item).subquery()
    ties = walk(six, [listing.c.score], source=select(listing))
    assert ties == [1, 2, 3, 4, 5]  # row 6 ties with row 5 on the page's last values
    assert walk(six, [listing.c.score, listing.c.id], source=select(listing)) == [1, 2, 3, 4, 5, 6]
    assert walk(six, [func.lower(item.code)], limit=4) == [1, 2, 3, 4, 5, 6]
    # Knowing one unique key is enough, whatever else the keyset holds.
    assert walk(six, [func.abs(item.score), item.id]) == [1, 2, 3, 4, 5, 6]


def test_a_listing_on_a_keyset_with_ties_is_an_error_not_five_rows_of_six(
    six: Six, make_chassis_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Over HTTP: the listing used to answer 200 on every page and leave a row out; now the
    first request fails (a 500 problem+json, no internals) and the log names the fix."""

    def by_score(**_: Any) -> Any:
        with Session(six.engine) as session:
            page = paginate(select(six.item), session, keyset=[six.item.score])
            return [{"id": row.id} for row in page]

    def by_score_and_id(**_: Any) -> Any:
        with Session(six.engine) as session:
            page = paginate(select(six.item), session, keyset=[six.item.score, six.item.id])
            return [{"id": row.id} for row in page]

    handlers = {"by_score": by_score, "by_score_and_id": by_score_and_id}
    parameters = [
        {"$ref": "#/components/parameters/cursor"},
        {"$ref": "#/components/parameters/limit"},
    ]
    spec = with_components(
        {
            "openapi": "3.0.3",
            "info": {"title": "six", "version": "1"},
            "paths": {
                f"/{name}": {
                    "get": {
                        "operationId": name,
                        "parameters": parameters,
                        "responses": {"200": {"description": "ok"}},
                    }
                }
                for name in handlers
            },
        }
    )
    app = make_chassis_app(
        spec=spec,
        plugins={"pagination": chassis_pagination},
        api_options={"resolver": Resolver(function_resolver=handlers.__getitem__)},
    )
    caplog.set_level(logging.ERROR)
    with app.test_client() as client:
        refused = client.get("/by_score?limit=5")
        pages = follow(client, "/by_score_and_id?limit=5")

    assert refused.status_code == 500
    assert refused.headers["content-type"] == "application/problem+json"
    assert "keyset" not in refused.text  # no internals leave the process
    assert f"keyset=[{six.name}.score, {six.name}.id]" in caplog.text
    assert [row["id"] for page in pages for row in page.json()] == [1, 2, 3, 4, 5, 6]
