"""chassis-pagination: what a page costs the database, by depth, keyset against offset.

    .venv/bin/python bench/bench_pagination.py [--rows 200000 --depth 100000 --limit 25]

Standalone (no HTTP: the question is the database's cost) on the real PostgreSQL
(``CHASSIS_TEST_POSTGRES_URL``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
It fills a table of its own (dropped afterwards) with ``--rows`` rows indexed on the sort
order ``(created, id)``, walks the listing with ``paginate(..., keyset=...)`` by following
``next_cursor`` to the wanted depths, then times, interleaved, page one and the pages at each
depth, by cursor and by ``offset``. Two figures per page: the whole ``paginate()`` call
(median wall time, Python and driver included) and PostgreSQL's own execution time of the
page's query (``EXPLAIN ANALYZE``, median).

Target (issue 6): a keyset page at depth 100,000 costs at most twice page one. The offset
page at the same depth is reported beside it.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import statistics
import sys
import time
import uuid
from typing import Any

from chassis_pagination import Page, paginate
from sqlalchemy import BigInteger, DateTime, Index, String, create_engine, event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

POSTGRES_URL = os.environ.get(
    "CHASSIS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TARGET = 2.0


def make_model(table: str) -> tuple[type[DeclarativeBase], Any]:
    class Base(DeclarativeBase):
        pass

    class Item(Base):
        __tablename__ = table
        id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
        created: Mapped[Any] = mapped_column(DateTime(timezone=True))
        name: Mapped[str] = mapped_column(String(60))
        __table_args__ = (Index(f"{table}_created_id", "created", "id"),)

    return Base, Item


def fill(engine: Engine, base: type[DeclarativeBase], table: str, rows: int) -> None:
    base.metadata.create_all(engine)
    with engine.begin() as connection:
        # Timestamps with many ties (one per ~3 rows), so the id tiebreaker matters.
        connection.execute(
            text(
                f"INSERT INTO {table} (id, created, name) "
                "SELECT n, timestamptz '2020-01-01' + ((n * 7919) % (:rows / 3)) * interval '1 s', "
                "'item ' || n FROM generate_series(1, :rows) AS n"
            ),
            {"rows": rows},
        )
        connection.execute(text(f"ANALYZE {table}"))


class QueryLog:
    """Remembers the last SELECT a session ran (the page's query), for EXPLAIN ANALYZE."""

    def __init__(self, engine: Engine) -> None:
        self.last: tuple[str, Any] | None = None
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.last = (statement, params)


def explain_ms(engine: Engine, query: tuple[str, Any]) -> float:
    statement, params = query
    with engine.connect() as connection:
        result = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", params)
        plan = result.scalar_one()[0]
    return float(plan["Execution Time"])


def timed(*args: Any, **kwargs: Any) -> tuple[float, Page[Any]]:
    """``paginate(*args, **kwargs)`` and its wall time in milliseconds."""
    started = time.perf_counter()
    page = paginate(*args, **kwargs)
    return (time.perf_counter() - started) * 1000, page


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--depth", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=25)
    args = parser.parse_args()
    if args.depth % args.limit or args.depth + args.limit > args.rows:
        parser.error("--depth must be a multiple of --limit and leave a page after it")
    logging.getLogger("chassis.pagination").setLevel(logging.ERROR)  # the random-secret note

    print("command:", shlex.join([".venv/bin/python", "bench/bench_pagination.py", *sys.argv[1:]]))
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        engine.connect().close()
    except OperationalError as error:
        print(f"PostgreSQL is not reachable at {POSTGRES_URL}: {error.orig}", file=sys.stderr)
        return 2
    table = f"bench_pagination_{uuid.uuid4().hex[:10]}"
    base, item = make_model(table)
    depths = sorted({d for d in (1_000, 10_000, 50_000, args.depth) if d <= args.depth})
    try:
        started = time.perf_counter()
        fill(engine, base, table, args.rows)
        print(
            f"table {table}: {args.rows:,} rows, index (created, id), filled in "
            f"{time.perf_counter() - started:.1f} s"
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

            wall: dict[tuple[str, int], list[float]] = {}
            server: dict[tuple[str, int], list[float]] = {}
            for _ in range(args.repeat):  # interleaved, so drift hits every case alike
                for depth in [0, *depths]:
                    for kind in ("keyset", "offset"):
                        if kind == "keyset":
                            ms, _page = timed(
                                listing,
                                session,
                                keyset=keyset,
                                limit=args.limit,
                                cursor=cursors[depth],
                            )
                        else:
                            ms, _page = timed(ordered, session, offset=depth, limit=args.limit)
                        wall.setdefault((kind, depth), []).append(ms)
                        assert log.last is not None
                        server.setdefault((kind, depth), []).append(explain_ms(engine, log.last))

        def med(table_: dict[tuple[str, int], list[float]], kind: str, depth: int) -> float:
            return statistics.median(table_[(kind, depth)])

        print(
            f"\nmedians of {args.repeat} runs, limit {args.limit}; "
            "wall = paginate() call, db = PostgreSQL execution time"
        )
        print(
            f"{'depth':>9} | {'keyset wall':>11} {'keyset db':>10} | "
            f"{'offset wall':>11} {'offset db':>10}"
        )
        for depth in [0, *depths]:
            print(
                f"{depth:>9,} | {med(wall, 'keyset', depth):>8.2f} ms "
                f"{med(server, 'keyset', depth):>7.3f} ms | "
                f"{med(wall, 'offset', depth):>8.2f} ms "
                f"{med(server, 'offset', depth):>7.3f} ms"
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
        base.metadata.drop_all(engine)
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
