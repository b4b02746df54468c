"""Keyset pagination over columns holding NULLs, on SQLite and the real PostgreSQL, sync and
async: NULLs sort last ascending and first descending (or as ``.nulls_first()`` /
``.nulls_last()`` say) on both databases alike, and walking every page, forwards or backwards,
with rows inserted between pages, gives every row exactly once."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from chassis_pagination import Page, paginate, paginate_async
from pagination_support import async_engine
from sqlalchemy import Index, Integer, String, event, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

ROWS = 5000
LIMIT = 97  # pages that do not divide the listing evenly


@dataclass
class NullsTable:
    engine: Engine
    base: type[DeclarativeBase]
    item: Any

    def rows(self) -> list[dict[str, Any]]:
        with Session(self.engine) as session:
            return [
                {"id": r.id, "rank": r.rank, "label": r.label, "score": r.score}
                for r in session.scalars(select(self.item))
            ]

    def insert(self, first: int, count: int, seed: int) -> list[int]:
        with Session(self.engine) as session, session.begin():
            session.execute(insert(self.item), list(generate(first, count, seed)))
        return list(range(first, first + count))


def generate(first: int, count: int, seed: int) -> Iterator[dict[str, Any]]:
    """About a third of ``rank`` and of ``label`` NULL, many ties among the rest."""
    rng = random.Random(seed)
    for number in range(first, first + count):
        yield {
            "id": number,
            "rank": None if rng.random() < 0.35 else rng.randint(0, 40),
            # Same length and alphabet: every collation orders them as Python does.
            "label": None if rng.random() < 0.3 else f"l{rng.randint(0, 9):02d}",
            "score": rng.randint(0, 20),
        }


def make_table(engine: Engine) -> NullsTable:
    table = f"chassis_pagination_nulls_{uuid.uuid4().hex[:12]}"

    class Base(DeclarativeBase):
        pass

    class Item(Base):
        __tablename__ = table
        id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
        rank: Mapped[int | None] = mapped_column(Integer)
        label: Mapped[str | None] = mapped_column(String(10))
        score: Mapped[int] = mapped_column(Integer)

    Index(f"{table}_rank_id", Item.rank, Item.id)
    Base.metadata.create_all(engine)
    nulls = NullsTable(engine, Base, Item)
    nulls.insert(1, ROWS, seed=3)
    return nulls


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_table(request: pytest.FixtureRequest) -> Iterator[NullsTable]:
    """A table of the module's own, read only."""
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")
    table = make_table(engine)
    yield table
    table.base.metadata.drop_all(engine)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_table(request: pytest.FixtureRequest) -> Iterator[NullsTable]:
    """A table of the test's own, which it may write to."""
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")
    table = make_table(engine)
    yield table
    table.base.metadata.drop_all(engine)


# (keyset of the mapped class, the same order as (column, descending, nulls first))
Spec = tuple[Callable[[Any], list[Any]], list[tuple[str, bool, bool]]]
SPECS: dict[str, Spec] = {
    "asc": (lambda i: [i.rank, i.id], [("rank", False, False), ("id", False, False)]),
    "desc": (
        lambda i: [i.rank.desc(), i.id.desc()],
        [("rank", True, True), ("id", True, True)],
    ),
    "mixed": (lambda i: [i.rank.desc(), i.id], [("rank", True, True), ("id", False, False)]),
    "two nullable": (
        lambda i: [i.rank, i.label.desc(), i.id],
        [("rank", False, False), ("label", True, True), ("id", False, False)],
    ),
    "nulls first asc": (
        lambda i: [i.rank.nulls_first(), i.id],
        [("rank", False, True), ("id", False, False)],
    ),
    "nulls last desc": (
        lambda i: [i.rank.desc().nulls_last(), i.label.asc().nulls_first(), i.id.desc()],
        [("rank", True, False), ("label", False, True), ("id", True, True)],
    ),
    "nullable then not null": (
        lambda i: [i.label, i.score.desc(), i.id],
        [("label", False, False), ("score", True, True), ("id", False, False)],
    ),
    "interior nulls first": (
        lambda i: [i.rank, i.label.nulls_first(), i.id],
        [("rank", False, False), ("label", False, True), ("id", False, False)],
    ),
    "three desc": (
        lambda i: [i.rank.desc(), i.label.desc(), i.id.desc()],
        [("rank", True, True), ("label", True, True), ("id", True, True)],
    ),
    "not null then nullable": (
        lambda i: [i.score, i.rank, i.id],
        [("score", False, False), ("rank", False, False), ("id", False, False)],
    ),
}


def expected_ids(rows: list[dict[str, Any]], order: list[tuple[str, bool, bool]]) -> list[int]:
    """The listing's order, computed in Python: stable sorts, last key first."""
    ordered = list(rows)
    for name, descending, nulls_first in reversed(order):
        values = [row for row in ordered if row[name] is not None]
        values.sort(key=lambda row: row[name], reverse=descending)  # stays stable
        nulls = [row for row in ordered if row[name] is None]
        ordered = nulls + values if nulls_first else values + nulls
    return [row["id"] for row in ordered]


class Walker:
    """Pages of ``select(item)`` by keyset, one session per page (as handlers do), through
    ``paginate`` on a Session (``sync``), ``paginate_async`` on an AsyncSession (``async``),
    or ``paginate`` of a legacy ``session.query(item)`` (``query``)."""

    def __init__(self, table: NullsTable, keyset: list[Any], mode: str) -> None:
        self.table = table
        self.keyset = keyset
        self.mode = mode

    def page(self, cursor: str | None) -> Page[Any]:
        return self.walk(cursor, "next", pages=1)[2][0]

    def walk(
        self, cursor: str | None, rel: str, pages: int = 10_000
    ) -> tuple[list[int], str | None, list[Page[Any]]]:
        """Follow ``rel`` from ``cursor`` for up to ``pages`` pages: the ids in listing order
        (pages read backwards are put back in order), the cursor to go on with, the pages."""
        statement = select(self.table.item)
        read: list[Page[Any]] = []

        def follow(page: Page[Any]) -> str | None:
            read.append(page)
            if rel == "next":
                assert page.has_next == (page.next_cursor is not None)
                return page.next_cursor
            assert page.has_prev == (page.prev_cursor is not None)
            return page.prev_cursor

        if self.mode in ("sync", "query"):
            for _ in range(pages):
                with Session(self.table.engine) as session:
                    source = session.query(self.table.item) if self.mode == "query" else statement
                    cursor = follow(
                        paginate(source, session, keyset=self.keyset, limit=LIMIT, cursor=cursor)
                    )
                if cursor is None:
                    break
        else:

            async def walk() -> str | None:
                position = cursor
                engine = async_engine(self.table.engine)  # pooled, on this event loop
                try:
                    for _ in range(pages):
                        async with AsyncSession(engine) as session:
                            page = await paginate_async(
                                statement, session, keyset=self.keyset, limit=LIMIT, cursor=position
                            )
                        position = follow(page)
                        if position is None:
                            break
                finally:
                    await engine.dispose()
                return position

            cursor = asyncio.run(walk())
        chunks = [[item.id for item in page] for page in read]
        if rel == "prev":
            chunks.reverse()
        return [row_id for chunk in chunks for row_id in chunk], cursor, read

    def last_cursor(self) -> str:
        cursor = self.page(None).last_cursor
        assert cursor is not None
        return cursor


ASYNC_TOO = ("two nullable", "nulls last desc", "not null then nullable")


@pytest.mark.parametrize(
    ("name", "mode"),
    [(name, "sync") for name in SPECS]
    + [(name, "async") for name in ASYNC_TOO]
    + [(name, "query") for name in ("two nullable", "nulls last desc")],
)
def test_every_row_once_in_order_forwards_and_backwards(
    shared_table: NullsTable, name: str, mode: str
) -> None:
    make_keyset, order = SPECS[name]
    rows = shared_table.rows()
    assert sum(row["rank"] is None for row in rows) > ROWS // 4
    assert sum(row["label"] is None for row in rows) > ROWS // 5
    expected = expected_ids(rows, order)
    walker = Walker(shared_table, make_keyset(shared_table.item), mode)

    forwards, cursor, _ = walker.walk(None, "next")
    assert cursor is None
    assert forwards == expected

    backwards, cursor, _ = walker.walk(walker.last_cursor(), "prev")
    assert cursor is None
    assert backwards == expected


@pytest.mark.parametrize("rel", ["next", "prev"])
@pytest.mark.parametrize("name", ["desc", "two nullable", "nulls last desc"])
def test_no_row_skipped_or_repeated_when_rows_are_inserted_between_pages(
    fresh_table: NullsTable, name: str, rel: str
) -> None:
    make_keyset, order = SPECS[name]
    original = {row["id"] for row in fresh_table.rows()}
    walker = Walker(fresh_table, make_keyset(fresh_table.item), "sync")
    start = None if rel == "next" else walker.last_cursor()
    before, cursor, _ = walker.walk(start, rel, pages=15)  # about 1,450 rows read
    assert cursor is not None

    # 1,500 rows, a third with NULLs, sorting all over the listing (and in the NULL groups).
    added = set(fresh_table.insert(ROWS + 1, 1500, seed=5))
    after, cursor, _ = walker.walk(cursor, rel)
    assert cursor is None
    seen = before + after if rel == "next" else after + before
    counts = Counter(seen)
    assert max(counts.values()) == 1, "a row came twice"
    assert original <= set(counts), "a row was skipped"

    # New rows show up exactly when they sort beyond where the walk was.
    final = expected_ids(fresh_table.rows(), order)
    position = final.index(before[-1] if rel == "next" else before[0])
    beyond = final[position + 1 :] if rel == "next" else final[:position]
    assert set(counts) & added == added & set(beyond)
    assert seen == [row_id for row_id in final if row_id in counts]  # and in order
    assert 100 < len(added & set(beyond)) < len(added)  # some before, some after


def test_the_last_keyset_column_must_not_hold_null(shared_table: NullsTable) -> None:
    item = shared_table.item
    with Session(shared_table.engine) as session:
        with pytest.raises(ValueError, match=r"must be unique and NOT NULL") as error:
            paginate(select(item), session, keyset=[item.id, item.rank], limit=LIMIT)
        assert str(error.value).startswith(f"keyset column {item.__tablename__}.rank is NULL")
        # Without the primary key, refused before any row is read: it is not unique.
        with pytest.raises(ValueError, match=r"is not unique"):
            paginate(select(item), session, keyset=[item.rank.nulls_first()], limit=LIMIT)


def test_direction_after_nulls_placement_is_refused(shared_table: NullsTable) -> None:
    item = shared_table.item
    with (
        Session(shared_table.engine) as session,
        pytest.raises(ValueError, match=r"column\.desc\(\)\.nulls_last\(\)"),
    ):
        paginate(select(item), session, keyset=[item.rank.nulls_first().desc(), item.id])


def test_the_sql_of_a_page(shared_table: NullsTable) -> None:
    """A NOT NULL keyset reads as before: one row-value comparison a composite index serves,
    no NULLS FIRST/LAST. A nullable one orders NULLs explicitly and reads the listing in
    stretches that are each one index range (no OR): the values after the position, then the
    NULLs; positioned among the NULLs, only those."""
    item = shared_table.item
    table = item.__tablename__
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        sent.append(" ".join(statement.split()))

    def pages(keyset: list[Any]) -> Iterator[tuple[Page[Any], list[str]]]:
        cursor = None
        while True:
            sent.clear()
            with Session(shared_table.engine) as session:
                page = paginate(select(item), session, keyset=keyset, limit=LIMIT, cursor=cursor)
            yield page, list(sent)
            cursor = page.next_cursor
            if cursor is None:
                return

    event.listen(shared_table.engine, "before_cursor_execute", record)
    try:
        plain = [statements for _, statements in pages([item.score, item.id])]
        nullable = [(page, statements) for page, statements in pages([item.rank, item.id])]
    finally:
        event.remove(shared_table.engine, "before_cursor_execute", record)

    assert all(len(statements) == 1 for statements in plain)
    for statements in plain[1:]:
        (statement,) = statements
        assert f"WHERE ({table}.score, {table}.id) > (" in statement
        for clause in ("NULLS FIRST", "NULLS LAST", "IS NULL", " OR "):
            assert clause not in statement.upper()

    crossing = 0
    for page, statements in nullable[1:]:
        assert all(f"ORDER BY {table}.rank ASC NULLS LAST, {table}.id ASC" in s for s in statements)
        assert all(" OR " not in s.upper() for s in statements)
        if page[0].rank is not None and page[-1].rank is None:  # from values into the NULLs
            crossing += 1
            assert len(statements) == 2
            assert f"WHERE ({table}.rank, {table}.id) > (" in statements[0]
            assert f"WHERE {table}.rank IS NULL ORDER BY" in statements[1]
        elif page[0].rank is None:  # positioned among the NULLs
            assert len(statements) == 1
            assert f"WHERE {table}.rank IS NULL AND {table}.id > " in statements[0]
        else:
            assert len(statements) == 1
            assert f"WHERE ({table}.rank, {table}.id) > (" in statements[0]
    assert crossing == 1
