"""``paginate_async`` on an ``AsyncSession`` / ``AsyncConnection`` (psycopg's asyncio side on
the real PostgreSQL, aiosqlite on SQLite): the same pages, links, meta, cursors, totals and
errors as ``paginate``, from ``async def`` handlers served by a chassis App and called
directly."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from chassis_pagination import InvalidPageParameter, Page, paginate, paginate_async
from chassis_test_support import run_python
from pagination_support import Database, as_dict, follow, links, query_of
from sqlalchemy import select
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncSession,
    async_scoped_session,
    async_sessionmaker,
)
from sqlalchemy.orm import Session, scoped_session, sessionmaker

T = TypeVar("T")

# ---------------------------------------------------------------------------------------------
# Through a chassis App: async def handlers next to the sync ones over the same table.

PAIRS = [
    # (sync path, async path, query)
    ("/items", "/items-async", "?limit=30&offset=60"),
    ("/items", "/items-async", "?category=alpha&category=delta&q=item%20&limit=100&offset=200"),
    ("/items", "/items-async", "?offset=9990"),
    ("/items", "/items-async", "?offset=20000"),
    ("/items-total", "/items-total-async", ""),
    ("/items-total", "/items-total-async", "?offset=9975&limit=500"),
    ("/items-undeclared", "/items-undeclared-async", "?limit=7&offset=14"),
]


def _relinked(response: Any, async_path: str, sync_path: str) -> str:
    return str(response.headers.get("link", "")).replace(async_path + "?", sync_path + "?")


def assert_same(sync: Any, asynchronous: Any, sync_path: str, async_path: str) -> None:
    """The async response is the sync one: status, body, Link, X-Total-Count, meta."""
    assert asynchronous.status_code == sync.status_code == 200, asynchronous.text
    assert _relinked(asynchronous, async_path, sync_path) == sync.headers["link"]
    assert asynchronous.headers.get("x-total-count") == sync.headers.get("x-total-count")
    sync_body, async_body = sync.json(), asynchronous.json()
    if isinstance(sync_body, dict):  # the envelope: the request ids differ, nothing else
        assert async_body["data"] == sync_body["data"]
        meta = {
            key: value.replace(async_path + "?", sync_path + "?")
            if isinstance(value, str)
            else value
            for key, value in async_body["meta"]["pagination"].items()
        }
        assert meta == sync_body["meta"]["pagination"]
    else:
        assert async_body == sync_body


@pytest.mark.parametrize("envelope", [False, True])
@pytest.mark.parametrize(("sync_path", "async_path", "query"), PAIRS)
def test_offset_pages_from_async_handlers(
    db: Database, client_for: Any, envelope: bool, sync_path: str, async_path: str, query: str
) -> None:
    client = client_for(db, settings={"envelope": {"enabled": envelope}})
    sync = client.get(sync_path + query)
    asynchronous = client.get(async_path + query)
    assert_same(sync, asynchronous, sync_path, async_path)
    if query == "?limit=30&offset=60":
        body = asynchronous.json()
        data = body["data"] if envelope else body
        assert [row["id"] for row in data] == list(range(61, 91))


@pytest.mark.parametrize(
    ("sync_path", "async_path", "query", "backwards"),
    [
        ("/items-keyset", "/items-keyset-async", "?limit=100", True),
        ("/items-keyset", "/items-keyset-async", "?category=beta&q=item&limit=37", True),
        ("/items-keyset-mixed", "/items-keyset-mixed-async", "?limit=100", False),
        ("/items-keyset-rows", "/items-keyset-rows-async", "?limit=100", False),
    ],
)
def test_keyset_walks_from_async_handlers_match_sync_ones(
    db: Database, client_for: Any, sync_path: str, async_path: str, query: str, backwards: bool
) -> None:
    """Every page forwards (next) and backwards from the last (prev): the same bodies and
    the same Link headers, cursors included, so a cursor of one serves the other."""
    client = client_for(db, settings={"envelope": {"enabled": True}, "pagination": {"total": True}})
    sync_pages = follow(client, sync_path + query)
    async_pages = follow(client, async_path + query)
    assert len(async_pages) == len(sync_pages) > 1
    for sync, asynchronous in zip(sync_pages, async_pages, strict=True):
        assert_same(sync, asynchronous, sync_path, async_path)
    seen = [row["id"] for page in async_pages for row in page.json()["data"]]
    assert len(seen) == len(set(seen)) == int(async_pages[0].headers["x-total-count"])

    if backwards:
        sync_back = follow(client, links(sync_pages[0])["last"], rel="prev")
        async_back = follow(client, links(async_pages[0])["last"], rel="prev")
        assert len(async_back) == len(sync_pages)
        for sync, asynchronous in zip(sync_back, async_back, strict=True):
            assert_same(sync, asynchronous, sync_path, async_path)
    else:  # the last page, read backwards
        last = links(sync_pages[0])["last"]
        assert_same(
            client.get(last),
            client.get(last.replace(sync_path + "?", async_path + "?")),
            sync_path,
            async_path,
        )

    # A cursor is a cursor of the listing, whichever handler issued it.
    sync_next = links(sync_pages[1])["next"]
    assert "cursor" in query_of(sync_next)
    by_async = client.get(sync_next.replace(sync_path + "?", async_path + "?"))
    assert by_async.json()["data"] == sync_pages[2].json()["data"]


BAD = [
    ("/items-undeclared", "/items-undeclared-async", "?limit=500"),
    ("/items-undeclared", "/items-undeclared-async", "?offset=-1"),
    ("/items-undeclared", "/items-undeclared-async", "?limit=1&limit=2"),
    ("/items-undeclared", "/items-undeclared-async", "?cursor=abc"),
    ("/items-keyset", "/items-keyset-async", "?cursor=forged.cursor"),
    ("/items-keyset", "/items-keyset-async", "?offset=10"),
    ("/items-keyset", "/items-keyset-async", "?limit=0"),
]


@pytest.mark.parametrize(("sync_path", "async_path", "query"), BAD)
def test_bad_input_to_async_handlers_is_the_same_400(
    sqlite_db: Database, client_for: Any, sync_path: str, async_path: str, query: str
) -> None:
    client = client_for(sqlite_db)
    sync = client.get(sync_path + query)
    asynchronous = client.get(async_path + query)
    assert asynchronous.status_code == sync.status_code == 400
    assert asynchronous.headers["content-type"] == "application/problem+json"
    sync_body, async_body = sync.json(), asynchronous.json()
    assert async_body.pop("request_id") == asynchronous.headers["x-request-id"]
    sync_body.pop("request_id")
    assert async_body == sync_body


def test_bad_input_to_async_handlers_without_the_plugin(
    sqlite_db: Database, client_for: Any
) -> None:
    """No middleware to check first: paginate_async itself answers 400."""
    client = client_for(sqlite_db, pagination=False)
    response = client.get("/items-undeclared-async?limit=0")
    assert response.status_code == 400
    assert response.json()["detail"] == "query parameter 'limit' must be at least 1 (got '0')"
    ok = client.get("/items-undeclared-async?limit=3&offset=3")
    assert [row["id"] for row in ok.json()] == [4, 5, 6]
    assert "link" not in ok.headers  # nothing adds links without the plugin


# ---------------------------------------------------------------------------------------------
# Called directly (a job, a script): the same Page, attribute by attribute.


def run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(make())


def described(page: Page[Any]) -> dict[str, Any]:
    items = [as_dict(item) if hasattr(item, "created") else tuple(item) for item in page]
    return {
        "items": items,
        "limit": page.limit,
        "offset": page.offset,
        "total": page.total,
        "has_next": page.has_next,
        "has_prev": page.has_prev,
        "cursor": page.cursor,
        "next_cursor": page.next_cursor,
        "prev_cursor": page.prev_cursor,
        "last_cursor": page.last_cursor,
        "is_keyset": page.is_keyset,
    }


def test_direct_calls_give_the_same_pages(db: Database) -> None:
    item = db.item
    ordered = select(item).order_by(item.id)
    rows = select(item.id, item.score)
    keyset = [item.score.desc(), item.id.desc()]
    with Session(db.engine) as session:
        first = paginate(select(item), session, keyset=keyset, limit=50)
        second = paginate(select(item), session, keyset=keyset, cursor=first.next_cursor)
    assert first.next_cursor and second.prev_cursor and first.last_cursor
    # (statement, options, rows of a Core select: also run on an AsyncConnection)
    calls: list[tuple[Any, dict[str, Any], bool]] = [
        (ordered, {}, False),
        (ordered, {"offset": 9980, "limit": 50, "total": True}, False),
        (ordered, {"offset": 50000}, False),  # beyond the end: an empty page
        (ordered.where(item.category == "gamma"), {"offset": 100, "total": True}, False),
        (rows.order_by(item.id), {"offset": 10, "limit": 5}, True),
        (select(item), {"keyset": keyset}, False),
        (select(item), {"keyset": keyset, "cursor": first.next_cursor, "limit": 50}, False),
        (select(item), {"keyset": keyset, "cursor": second.prev_cursor, "limit": 50}, False),
        (select(item), {"keyset": keyset, "cursor": first.last_cursor, "total": True}, False),
        (rows, {"keyset": [item.score, item.id], "limit": 10, "total": True}, True),
    ]
    for statement, options, core in calls:
        with Session(db.engine) as session:
            expected = described(paginate(statement, session, **options))

        async def by_session(statement: Any = statement, options: Any = options) -> Page[Any]:
            async with AsyncSession(db.async_engine) as session:
                return await paginate_async(statement, session, **options)

        async def by_connection(statement: Any = statement, options: Any = options) -> Page[Any]:
            async with db.async_engine.connect() as connection:
                return await paginate_async(statement, connection, **options)

        assert described(run(by_session)) == expected, options
        if core:
            assert described(run(by_connection)) == expected, options
    assert run(lambda: paginate_async(list(range(10)), offset=8, limit=5, total=True)) == [8, 9]


def test_direct_bad_input_raises_the_same_errors(sqlite_db: Database) -> None:
    item = sqlite_db.item
    keyset = [item.id]
    with Session(sqlite_db.engine) as session:
        other = paginate(select(item), session, keyset=[item.score, item.id], limit=5)
    assert other.next_cursor
    bad: list[tuple[Any, dict[str, Any]]] = [
        (select(item), {"limit": 0}),
        (select(item), {"offset": -3}),
        (select(item), {"max_limit": 10, "limit": 11}),
        (select(item), {"cursor": "abc"}),
        (select(item), {"keyset": keyset, "offset": 5}),
        (select(item), {"keyset": keyset, "cursor": "x" * 3000}),
        (select(item), {"keyset": keyset, "cursor": other.next_cursor}),  # sorted another way
    ]
    for statement, options in bad:
        with Session(sqlite_db.engine) as session, pytest.raises(InvalidPageParameter) as sync:
            paginate(statement, session, **options)

        async def call(statement: Any = statement, options: Any = options) -> None:
            async with AsyncSession(sqlite_db.async_engine) as session:
                await paginate_async(statement, session, **options)

        with pytest.raises(InvalidPageParameter) as asynchronous:
            run(call)
        assert asynchronous.value.detail == sync.value.detail
        assert asynchronous.value.ext == sync.value.ext


def test_wrong_kind_of_session_is_a_clear_type_error(db: Database) -> None:
    item = db.item

    async def with_sync_session() -> None:
        with Session(db.engine) as session:
            await paginate_async(select(item).order_by(item.id), session)  # type: ignore[call-overload]

    with pytest.raises(TypeError, match=r"paginate_async\(\) got a Session, .*call paginate\(\)"):
        run(with_sync_session)

    async def with_legacy_query() -> None:
        with Session(db.engine) as session:
            await paginate_async(session.query(item), None)

    with pytest.raises(TypeError, match="cannot run a legacy Query"):
        run(with_legacy_query)

    async def without_session() -> None:
        await paginate_async(select(item))  # type: ignore[call-overload]

    with pytest.raises(TypeError, match="needs session="):
        run(without_session)

    async def sync_call_with_async_session() -> None:
        async with AsyncSession(db.async_engine) as session:
            paginate(select(item).order_by(item.id), session)  # type: ignore[call-overload]

    with pytest.raises(TypeError, match=r"got AsyncSession: await paginate_async\(\.\.\.\)"):
        run(sync_call_with_async_session)

    async def sync_call_with_async_connection() -> None:
        async with db.async_engine.connect() as connection:
            assert isinstance(connection, AsyncConnection)
            paginate(select(item), connection, keyset=[item.id])  # type: ignore[call-overload]

    with pytest.raises(TypeError, match=r"got AsyncConnection: await paginate_async"):
        run(sync_call_with_async_connection)


# ---------------------------------------------------------------------------------------------
# Nothing imports sqlalchemy.ext.asyncio for those who never use it.


def test_sync_pagination_does_not_import_sqlalchemy_asyncio() -> None:
    result = run_python(
        """
        import sys
        from chassis_pagination import paginate, paginate_async
        from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select
        from sqlalchemy.orm import Session

        table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("n", Integer))
        engine = create_engine("sqlite://")
        table.metadata.create_all(engine)
        with Session(engine) as session:
            session.execute(insert(table), [{"id": i, "n": i % 3 or None} for i in range(1, 101)])
            page = paginate(select(table).order_by(table.c.id), session, offset=10, total=True)
            assert [row.id for row in page] == list(range(11, 36)) and page.total == 100, page
            page = paginate(select(table), session, keyset=[table.c.n, table.c.id], limit=40)
            page = paginate(select(table), session, keyset=[table.c.n, table.c.id],
                            cursor=page.next_cursor, limit=40)
            assert [row.n for row in page][-10:] == [None] * 10, list(page)
        assert "sqlalchemy.ext.asyncio" not in sys.modules, "sqlalchemy.ext.asyncio imported"
        print("ok")
        """
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_paginate_async_of_a_sequence_needs_no_sqlalchemy() -> None:
    result = run_python(
        """
        import asyncio, sys
        sys.modules["sqlalchemy"] = None  # as if it were not installed
        from chassis_pagination import paginate_async
        page = asyncio.run(paginate_async(list(range(100)), offset=90, limit=5, total=True))
        assert page == [90, 91, 92, 93, 94] and page.has_next and page.total == 100, page
        print("ok")
        """
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_scoped_sessions(db: Database) -> None:
    """``scoped_session`` and ``async_scoped_session`` run pages like the sessions they wrap."""
    item = db.item
    keyset = [item.score.desc(), item.id.desc()]
    scoped = scoped_session(sessionmaker(db.engine))
    try:
        expected = described(paginate(select(item), scoped, keyset=keyset, limit=30))
    finally:
        scoped.remove()

    async def read() -> Page[Any]:
        session = async_scoped_session(
            async_sessionmaker(db.async_engine), scopefunc=asyncio.current_task
        )
        try:
            return await paginate_async(select(item), session, keyset=keyset, limit=30)
        finally:
            await session.remove()

    assert described(run(read)) == expected
    assert len(expected["items"]) == 30
