"""A test service with paginated endpoints over a 10,000-row table, on SQLite or PostgreSQL."""

from __future__ import annotations

import datetime
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs, urlsplit

import chassis_pagination
from chassis_pagination import paginate, paginate_async
from connexion.resolver import Resolver
from sqlalchemy import Date, Index, Integer, String, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import NullPool

ROWS = 10_000
CATEGORIES = ["alpha", "beta", "gamma", "delta", "epsilon"]


@dataclass
class Database:
    name: str
    engine: Engine
    base: type[DeclarativeBase]
    item: Any  # the mapped class

    def rows(self) -> list[dict[str, Any]]:
        with Session(self.engine) as session:
            return [as_dict(row) for row in session.scalars(select(self.item).order_by("id"))]

    @cached_property
    def snapshot(self) -> list[dict[str, Any]]:
        """The rows as first made (tests that add rows use a table of their own)."""
        return self.rows()

    @cached_property
    def async_engine(self) -> AsyncEngine:
        """An asyncio engine on the same database (``sqlite+aiosqlite``, or psycopg's asyncio
        side of ``postgresql+psycopg``). ``NullPool``: the tests also call ``paginate_async``
        directly, each call on an ``asyncio.run`` loop of its own, and pooled asyncio
        connections must not move between loops."""
        return async_engine(self.engine, poolclass=NullPool)


def async_engine(engine: Engine, **options: Any) -> AsyncEngine:
    """The asyncio twin of a sync engine (same database)."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    return create_async_engine(url, **options)


def make_database(name: str, engine: Engine, table: str, rows: int = ROWS) -> Database:
    """Create ``table`` (a name unique to the test session) and put ``rows`` rows in it."""

    class Base(DeclarativeBase):
        pass

    item = type(
        "Item",
        (Base,),
        {
            "__tablename__": table,
            "id": mapped_column(Integer, primary_key=True, autoincrement=False),
            "name": mapped_column(String(60)),
            "category": mapped_column(String(20)),
            "score": mapped_column(Integer),
            "created": mapped_column(Date),
            "__annotations__": {
                "id": Mapped[int],
                "name": Mapped[str],
                "category": Mapped[str],
                "score": Mapped[int],
                "created": Mapped[datetime.date],
            },
        },
    )
    Index(f"{table}_score_id", item.score, item.id)
    Index(f"{table}_created_id", item.created, item.id)
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        session.execute(insert(item), list(generate(1, rows)))
    return Database(name, engine, Base, item)


def insert_rows(db: Database, first: int, count: int, seed: int = 11) -> list[dict[str, Any]]:
    rows = list(generate(first, count, seed))
    with Session(db.engine) as session, session.begin():
        session.execute(insert(db.item), rows)
    return rows


def generate(first: int, count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed + first)
    start = datetime.date(2020, 1, 1)
    for number in range(first, first + count):
        yield {
            "id": number,
            "name": f"item {number} & co",
            "category": CATEGORIES[number % len(CATEGORIES)],
            "score": rng.randint(0, 999),  # many ties: the id breaks them
            "created": start + datetime.timedelta(days=rng.randint(0, 1500)),
        }


def as_dict(item: Any) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "category": item.category,
        "score": item.score,
        "created": item.created.isoformat(),
    }


SPEC_TEMPLATE: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "pagination tests", "version": "1"},
    "paths": {},
    "components": {
        "parameters": {
            "category": {
                "name": "category",
                "in": "query",
                "schema": {"type": "array", "items": {"type": "string"}},
                "style": "form",
                "explode": True,
            },
            "q": {"name": "q", "in": "query", "schema": {"type": "string"}},
            "limit500": {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": 500},
            },
        }
    },
}

OK = {"200": {"description": "a page", "headers": {"Link": {"$ref": "#/components/headers/Link"}}}}
FILTERS = [{"$ref": "#/components/parameters/category"}, {"$ref": "#/components/parameters/q"}]
OFFSET_PARAMS = [
    {"$ref": "#/components/parameters/offset"},
    {"$ref": "#/components/parameters/limit"},
]
CURSOR_PARAMS = [
    {"$ref": "#/components/parameters/cursor"},
    {"$ref": "#/components/parameters/limit"},
]


def _operation(operation_id: str, parameters: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "get": {"operationId": operation_id, "parameters": parameters, "responses": OK, **extra}
    }


def spec() -> dict[str, Any]:
    """The test API, with the package's components merged in by ``with_components``."""
    paths = {
        "/items": _operation("items_select", [*OFFSET_PARAMS, *FILTERS]),
        "/items-query": _operation("items_query", [*OFFSET_PARAMS, *FILTERS]),
        "/items-list": _operation("items_list", [*OFFSET_PARAMS, *FILTERS]),
        "/items-rows": _operation("items_rows", OFFSET_PARAMS),
        "/items-undeclared": _operation("items_undeclared", []),
        "/items-own-link": _operation("items_own_link", OFFSET_PARAMS),
        "/items-total": _operation(
            "items_total",
            [
                {"$ref": "#/components/parameters/offset"},
                {"$ref": "#/components/parameters/limit500"},
            ],
            **{"x-chassis-pagination": {"total": True, "max_limit": 500, "default_limit": 50}},
        ),
        "/items-keyset": _operation("items_keyset", [*CURSOR_PARAMS, *FILTERS]),
        "/items-keyset-mixed": _operation("items_keyset_mixed", CURSOR_PARAMS),
        "/items-keyset-query": _operation("items_keyset_query", CURSOR_PARAMS),
        "/items-keyset-rows": _operation("items_keyset_rows", CURSOR_PARAMS),
        "/items-async": _operation("items_async", [*OFFSET_PARAMS, *FILTERS]),
        "/items-total-async": _operation(
            "items_total_async",
            [
                {"$ref": "#/components/parameters/offset"},
                {"$ref": "#/components/parameters/limit500"},
            ],
            **{"x-chassis-pagination": {"total": True, "max_limit": 500, "default_limit": 50}},
        ),
        "/items-undeclared-async": _operation("items_undeclared_async", []),
        "/items-keyset-async": _operation("items_keyset_async", [*CURSOR_PARAMS, *FILTERS]),
        "/items-keyset-mixed-async": _operation("items_keyset_mixed_async", CURSOR_PARAMS),
        "/items-keyset-rows-async": _operation("items_keyset_rows_async", CURSOR_PARAMS),
        "/items-csv": {
            "get": {
                "operationId": "items_csv",
                "parameters": OFFSET_PARAMS,
                "responses": {"200": {"description": "csv", "content": {"text/csv": {}}}},
            }
        },
    }
    document = {**SPEC_TEMPLATE, "paths": paths}
    return chassis_pagination.with_components(document, max_limit=None)


def handlers(db: Database) -> dict[str, Callable[..., Any]]:
    item = db.item

    def filtered(category: list[str] | None = None, q: str | None = None) -> Any:
        statement = select(item).order_by(item.id)
        if category:
            statement = statement.where(item.category.in_(category))
        if q:
            statement = statement.where(item.name.contains(q, autoescape=True))
        return statement

    def items_select(category: list[str] | None = None, q: str | None = None, **_: Any) -> Any:
        with Session(db.engine) as session:
            return [as_dict(row) for row in paginate(filtered(category, q), session)]

    def items_query(category: list[str] | None = None, q: str | None = None, **_: Any) -> Any:
        with Session(db.engine) as session:
            query = session.query(item).order_by(item.id)
            if category:
                query = query.filter(item.category.in_(category))
            if q:
                query = query.filter(item.name.contains(q, autoescape=True))
            return [as_dict(row) for row in paginate(query)]

    def items_list(category: list[str] | None = None, q: str | None = None, **_: Any) -> Any:
        rows = [
            row
            for row in db.snapshot
            if (not category or row["category"] in category) and (not q or q in row["name"])
        ]
        return paginate(rows)

    def items_rows(**_: Any) -> Any:
        with db.engine.connect() as connection:
            statement = select(item.id, item.name).order_by(item.id)
            return [{"id": row.id, "name": row.name} for row in paginate(statement, connection)]

    def items_undeclared() -> Any:
        with Session(db.engine) as session:
            return [as_dict(row) for row in paginate(filtered(), session)]

    def items_own_link(**_: Any) -> Any:
        page = paginate(db.snapshot)
        return page, 200, {"Link": '<https://docs.example.com/items>; rel="help"'}

    def items_total(**_: Any) -> Any:
        with Session(db.engine) as session:
            return [as_dict(row) for row in paginate(filtered(), session)]

    def items_keyset(category: list[str] | None = None, q: str | None = None, **_: Any) -> Any:
        with Session(db.engine) as session:
            page = paginate(
                filtered(category, q), session, keyset=[item.score.desc(), item.id.desc()]
            )
            return [as_dict(row) for row in page]

    def items_keyset_mixed(**_: Any) -> Any:
        with Session(db.engine) as session:
            page = paginate(select(item), session, keyset=[item.created, item.id.desc()])
            return [as_dict(row) for row in page]

    def items_keyset_query(**_: Any) -> Any:
        with Session(db.engine) as session:
            page = paginate(session.query(item), keyset=[item.score, item.id])
            return [as_dict(row) for row in page]

    def items_keyset_rows(**_: Any) -> Any:
        with db.engine.connect() as connection:
            statement = select(item.id, item.score)
            page = paginate(statement, connection, keyset=[item.score, item.id])
            return [{"id": row.id, "score": row.score} for row in page]

    # The same listings in async def handlers, on an AsyncSession / AsyncConnection.

    async def items_async(category: list[str] | None = None, q: str | None = None, **_: Any) -> Any:
        async with AsyncSession(db.async_engine) as session:
            page = await paginate_async(filtered(category, q), session)
            return [as_dict(row) for row in page]

    async def items_total_async(**_: Any) -> Any:
        async with AsyncSession(db.async_engine) as session:
            return [as_dict(row) for row in await paginate_async(filtered(), session)]

    async def items_undeclared_async() -> Any:
        async with AsyncSession(db.async_engine) as session:
            return [as_dict(row) for row in await paginate_async(filtered(), session)]

    async def items_keyset_async(
        category: list[str] | None = None, q: str | None = None, **_: Any
    ) -> Any:
        async with AsyncSession(db.async_engine) as session:
            page = await paginate_async(
                filtered(category, q), session, keyset=[item.score.desc(), item.id.desc()]
            )
            return [as_dict(row) for row in page]

    async def items_keyset_mixed_async(**_: Any) -> Any:
        async with AsyncSession(db.async_engine) as session:
            page = await paginate_async(
                select(item), session, keyset=[item.created, item.id.desc()]
            )
            return [as_dict(row) for row in page]

    async def items_keyset_rows_async(**_: Any) -> Any:
        async with db.async_engine.connect() as connection:
            statement = select(item.id, item.score)
            page = await paginate_async(statement, connection, keyset=[item.score, item.id])
            return [{"id": row.id, "score": row.score} for row in page]

    def items_csv(**_: Any) -> Any:
        page = paginate(db.snapshot)
        body = "".join(f"{row['id']},{row['name']}\n" for row in page)
        return body, 200, {"Content-Type": "text/csv"}

    return {function.__name__: function for function in locals().values() if callable(function)}


def resolver(db: Database) -> Resolver:
    functions = handlers(db)
    return Resolver(function_resolver=lambda operation_id: functions[operation_id])


_LINK = re.compile(r'<([^>]*)>;\s*rel="([a-z]+)"')


def links(response: Any) -> dict[str, str]:
    """The ``Link`` header of a response as ``{rel: url}``."""
    return {rel: url for url, rel in _LINK.findall(response.headers.get("link", ""))}


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def follow(client: Any, url: str, rel: str = "next", limit: int = 1000) -> list[Any]:
    """GET ``url`` then every ``rel`` link until there is none; the responses."""
    responses = []
    while url and len(responses) < limit:
        response = client.get(url)
        assert response.status_code == 200, response.text
        responses.append(response)
        url = links(response).get(rel, "")
    return responses
