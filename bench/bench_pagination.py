"""chassis-pagination: what a page costs the database, by depth, keyset against offset.

    .venv/bin/python bench/bench_pagination.py [--rows 200000 --depth 100000 --limit 25]
        [--async] [--null-fraction 0.3]

Standalone (no HTTP: the question is the database's cost) on the real PostgreSQL
(``CHASSIS_TEST_POSTGRES_URL``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
It fills a table of its own (dropped afterwards) with ``--rows`` rows indexed on the sort
order ``(created, id)``, walks the listing with ``paginate(..., keyset=...)`` by following
``next_cursor`` to the wanted depths, then times, interleaved, page one and the pages at each
depth, by cursor and by ``offset``. Two figures per page: the whole ``paginate()`` call
(median wall time, Python and driver included) and PostgreSQL's own execution time of the
page's query (``EXPLAIN ANALYZE``, median).

``--async`` also times ``paginate_async`` on an ``AsyncSession`` (psycopg's asyncio side, one
pooled connection on one event loop) for the same pages, beside ``paginate``: the SQL is the
same, so the difference is what asyncio and SQLAlchemy's greenlet bridge cost per call.

``--null-fraction F`` makes ``created`` nullable and NULL in a fraction ``F`` of the rows
(they sort last): a page past ``(1 - F) * rows`` is in the NULL group, and the page that
crosses into it runs two statements (the values, then the NULLs), whose database times are
added.

Target (issue 6): a keyset page at depth 100,000 costs at most twice page one. The offset
page at the same depth is reported beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import statistics
import sys
import time
import uuid
from typing import Any

from chassis_pagination import Page, paginate, paginate_async
from sqlalchemy import BigInteger, DateTime, Index, String, create_engine, event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

POSTGRES_URL = os.environ.get(
    "CHASSIS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TARGET = 2.0


def make_model(table: str, nullable: bool) -> tuple[type[DeclarativeBase], Any]:
    class Base(DeclarativeBase):
        pass

    class Item(Base):
        __tablename__ = table
        id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
        created: Mapped[Any] = mapped_column(DateTime(timezone=True), nullable=nullable)
        name: Mapped[str] = mapped_column(String(60))
        __table_args__ = (Index(f"{table}_created_id", "created", "id"),)

    return Base, Item


def fill(
    engine: Engine, base: type[DeclarativeBase], table: str, rows: int, null_fraction: float
) -> None:
    base.metadata.create_all(engine)
    with engine.begin() as connection:
        # Timestamps with many ties (one per ~3 rows), so the id tiebreaker matters; NULL in
        # a fraction of the rows spread over the ids.
        connection.execute(
            text(
                f"INSERT INTO {table} (id, created, name) "
                "SELECT n, CASE WHEN (n * 7907) % 10000 < :nulls THEN NULL ELSE "
                "timestamptz '2020-01-01' + ((n * 7919) % (:rows / 3)) * interval '1 s' END, "
                "'item ' || n FROM generate_series(1, :rows) AS n"
            ),
            {"rows": rows, "nulls": round(null_fraction * 10000)},
        )
        connection.execute(text(f"ANALYZE {table}"))


class QueryLog:
    """Remembers the SELECTs a session ran since ``clear()`` (a page's), for EXPLAIN ANALYZE."""

    def __init__(self, engine: Engine) -> None:
        self.selects: list[tuple[str, Any]] = []
        event.listen(engine, "before_cursor_execute", self._record)

    def clear(self) -> None:
        self.selects.clear()

    def _record(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.selects.append((statement, params))


def explain_ms(engine: Engine, queries: list[tuple[str, Any]]) -> float:
    """PostgreSQL's execution time of the queries, added."""
    total = 0.0
    with engine.connect() as connection:
        for statement, params in queries:
            result = connection.exec_driver_sql(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", params
            )
            total += float(result.scalar_one()[0]["Execution Time"])
    return total


def timed(*args: Any, **kwargs: Any) -> tuple[float, Page[Any]]:
    """``paginate(*args, **kwargs)`` and its wall time in milliseconds."""
    started = time.perf_counter()
    page = paginate(*args, **kwargs)
    return (time.perf_counter() - started) * 1000, page


async def timed_async(*args: Any, **kwargs: Any) -> tuple[float, Page[Any]]:
    """``await paginate_async(*args, **kwargs)`` and its wall time in milliseconds."""
    started = time.perf_counter()
    page = await paginate_async(*args, **kwargs)
    return (time.perf_counter() - started) * 1000, page


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--depth", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument(
        "--async",
        dest="run_async",
        action="store_true",
        help="also time paginate_async on an AsyncSession",
    )
    parser.add_argument(
        "--null-fraction",
        type=float,
        default=0.0,
        help="make created nullable and NULL in this fraction of the rows",
    )
    args = parser.parse_args()
    if args.depth % args.limit or args.depth + args.limit > args.rows:
        parser.error("--depth must be a multiple of --limit and leave a page after it")
    if not 0 <= args.null_fraction < 1:
        parser.error("--null-fraction must be at least 0 and less than 1")
    logging.getLogger("chassis.pagination").setLevel(logging.ERROR)  # the random-secret note

    print("command:", shlex.join([".venv/bin/python", "bench/bench_pagination.py", *sys.argv[1:]]))
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        engine.connect().close()
    except OperationalError as error:
        print(f"PostgreSQL is not reachable at {POSTGRES_URL}: {error.orig}", file=sys.stderr)
        return 2
    table = f"bench_pagination_{uuid.uuid4().hex[:10]}"
    base, item = make_model(table, nullable=args.null_fraction > 0)
    depths = sorted({d for d in (1_000, 10_000, 50_000, args.depth) if d <= args.depth})
    loop = asyncio.new_event_loop() if args.run_async else None
    async_engine = create_async_engine(POSTGRES_URL) if args.run_async else None
    try:
        started = time.perf_counter()
        fill(engine, base, table, args.rows, args.null_fraction)
        print(
            f"table {table}: {args.rows:,} rows, index (created, id), filled in "
            f"{time.perf_counter() - started:.1f} s"
        )
        if args.null_fraction:
            with engine.connect() as connection:
                nulls = connection.execute(
                    text(f"SELECT count(*) FROM {table} WHERE created IS NULL")
                ).scalar_one()
            print(
                f"created is NULL in {nulls:,} rows: the NULL group starts at depth {args.rows - nulls:,}"
            )
        log = QueryLog(engine)
        listing = select(item)
        keyset = [item.created, item.id]
        ordered = select(item).order_by(item.created, item.id)

        with Session(engine) as session:
            # Walk the listing by cursor to each depth; every page of the walk is timed too.
            cursors: dict[int, str | None] = {0: None}
            walk_ms: list[float] = []
            cursor: str | None = None
            seen = 0
            started = time.perf_counter()
            while seen < args.depth:
                ms, page = timed(listing, session, keyset=keyset, limit=args.limit, cursor=cursor)
                walk_ms.append(ms)
                seen += len(page)
                cursor = page.next_cursor
                if seen in depths:
                    cursors[seen] = cursor
            walk_s = time.perf_counter() - started
            print(
                f"walked {len(walk_ms):,} keyset pages to depth {seen:,} in {walk_s:.1f} s; "
                f"per page: median {statistics.median(walk_ms):.2f} ms, "
                f"first 100 {statistics.median(walk_ms[:100]):.2f} ms, "
                f"last 100 {statistics.median(walk_ms[-100:]):.2f} ms"
            )

            # Sanity: the page at the depth is the same by cursor and by offset.
            deep_keyset = paginate(
                listing, session, keyset=keyset, limit=args.limit, cursor=cursors[args.depth]
            )
            deep_offset = paginate(ordered, session, offset=args.depth, limit=args.limit)
            assert [r.id for r in deep_keyset] == [r.id for r in deep_offset], "pages differ"

            async_session = None
            if loop is not None and async_engine is not None:
                async_session = AsyncSession(async_engine)
                _ms, deep_async = loop.run_until_complete(
                    timed_async(
                        listing,
                        async_session,
                        keyset=keyset,
                        limit=args.limit,
                        cursor=cursors[args.depth],
                    )
                )
                assert [r.id for r in deep_async] == [r.id for r in deep_keyset], "async differs"

            wall: dict[tuple[str, int], list[float]] = {}
            server: dict[tuple[str, int], list[float]] = {}
            for _ in range(args.repeat):  # interleaved, so drift hits every case alike
                for depth in [0, *depths]:
                    for kind in ("keyset", "offset"):
                        options: dict[str, Any] = {"limit": args.limit}
                        if kind == "keyset":
                            statement = listing
                            options.update(keyset=keyset, cursor=cursors[depth])
                        else:
                            statement = ordered
                            options.update(offset=depth)
                        log.clear()
                        ms, _page = timed(statement, session, **options)
                        wall.setdefault((kind, depth), []).append(ms)
                        server.setdefault((kind, depth), []).append(explain_ms(engine, log.selects))
                        if loop is not None and async_session is not None:
                            ms, _page = loop.run_until_complete(
                                timed_async(statement, async_session, **options)
                            )
                            wall.setdefault((f"async {kind}", depth), []).append(ms)
            if loop is not None and async_session is not None:
                loop.run_until_complete(async_session.close())

        def med(table_: dict[tuple[str, int], list[float]], kind: str, depth: int) -> float:
            return statistics.median(table_[(kind, depth)])

        print(
            f"\nmedians of {args.repeat} runs, limit {args.limit}; "
            "wall = paginate() call, db = PostgreSQL execution time"
            + ("; async = await paginate_async() on an AsyncSession" if args.run_async else "")
        )
        header = (
            f"{'depth':>9} | {'keyset wall':>11} {'keyset db':>10} | "
            f"{'offset wall':>11} {'offset db':>10}"
        )
        if args.run_async:
            header += f" | {'async keyset':>12} {'async offset':>12}"
        print(header)
        for depth in [0, *depths]:
            line = (
                f"{depth:>9,} | {med(wall, 'keyset', depth):>8.2f} ms "
                f"{med(server, 'keyset', depth):>7.3f} ms | "
                f"{med(wall, 'offset', depth):>8.2f} ms "
                f"{med(server, 'offset', depth):>7.3f} ms"
            )
            if args.run_async:
                line += (
                    f" | {med(wall, 'async keyset', depth):>9.2f} ms "
                    f"{med(wall, 'async offset', depth):>9.2f} ms"
                )
            print(line)
        if args.run_async:
            extra = [
                med(wall, f"async {kind}", depth) - med(wall, kind, depth)
                for kind in ("keyset", "offset")
                for depth in [0, *depths]
            ]
            print(
                f"async minus sync, per call (median over the rows above): "
                f"{statistics.median(extra):+.2f} ms"
            )
        d = args.depth
        keyset_wall = med(wall, "keyset", d) / med(wall, "keyset", 0)
        keyset_db = med(server, "keyset", d) / med(server, "keyset", 0)
        offset_wall = med(wall, "offset", d) / med(wall, "offset", 0)
        offset_db = med(server, "offset", d) / med(server, "offset", 0)
        print(
            f"\ndepth {d:,} / page one:  keyset wall x{keyset_wall:.2f}, db x{keyset_db:.2f} "
            f"(target <= {TARGET:g});  offset wall x{offset_wall:.1f}, db x{offset_db:.1f}"
        )
        ok = keyset_wall <= TARGET and keyset_db <= TARGET
        print("target met" if ok else "TARGET MISSED")
        return 0 if ok else 1
    finally:
        if loop is not None and async_engine is not None:
            loop.run_until_complete(async_engine.dispose())
            loop.close()
        base.metadata.drop_all(engine)
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
