"""chassis-sqlalchemy: what the session per request costs against hand-written session code.

    .venv/bin/python bench/bench_sqlalchemy.py [--requests 400 --rounds 5] [--postgres]

Two apps of the same class serve the same operation, a one-row SELECT: one with
``chassis_sqlalchemy.session()`` (the plugin's layer, commit before the response starts, close),
the other with the code services write today (``with Session(engine) as s, s.begin(): ...`` in
the handler, the engine made by hand). Both run in this process, on the same database, through
Starlette's test client with the lifespan running; rounds are interleaved, so both see the same
machine. ``chassis.App`` (sync views, ``session()``) and ``chassis.AsyncApp`` (``async def``,
``async_session()`` against ``AsyncSession``) are measured. Figures: CPU time per request
(median of the rounds) and the ratio plugin / hand-written.

SQLite file by default; ``--postgres`` uses ``CHASSIS_TEST_POSTGRES_URL`` (psycopg 3).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import chassis
import chassis_sqlalchemy
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session

POSTGRES_URL = os.environ.get(
    "CHASSIS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "bench", "version": "1"},
    "paths": {
        "/one": {
            "get": {
                "operationId": "bench_sqlalchemy.plugin_one",
                "responses": {"200": {"description": "ok"}},
            }
        },
        "/hand": {
            "get": {
                "operationId": "bench_sqlalchemy.hand_one",
                "responses": {"200": {"description": "ok"}},
            }
        },
        "/aone": {
            "get": {
                "operationId": "bench_sqlalchemy.plugin_one_async",
                "responses": {"200": {"description": "ok"}},
            }
        },
        "/ahand": {
            "get": {
                "operationId": "bench_sqlalchemy.hand_one_async",
                "responses": {"200": {"description": "ok"}},
            }
        },
    },
}
QUERY = text("SELECT 1")
HAND: dict[str, Any] = {}


def plugin_one() -> dict[str, int]:
    return {"value": chassis_sqlalchemy.session().execute(QUERY).scalar_one()}


def hand_one() -> dict[str, int]:
    with Session(HAND["engine"]) as session, session.begin():
        return {"value": session.execute(QUERY).scalar_one()}


async def plugin_one_async() -> dict[str, int]:
    result = await chassis_sqlalchemy.async_session().execute(QUERY)
    return {"value": result.scalar_one()}


async def hand_one_async() -> dict[str, int]:
    engine = HAND.get("async_engine")
    if engine is None:  # made on the server's loop, at the first request, as services do
        engine = HAND["async_engine"] = create_async_engine(HAND["async_url"])
    async with AsyncSession(engine) as session, session.begin():
        result = await session.execute(QUERY)
        return {"value": result.scalar_one()}


def build(cls: type[Any], url: str, async_url: str) -> Any:
    app = cls(
        "bench_sqlalchemy",
        settings={
            "plugins": [],
            "log_level": "WARNING",
            "sqlalchemy": {"url": url, "async_url": async_url, "engines": "both"},
        },
        plugins=[chassis_sqlalchemy],
    )
    app.add_api(SPEC)
    return app


def measure(client: Any, path: str, requests: int) -> float:
    started = time.process_time()
    for _ in range(requests):
        response = client.get(path)
        assert response.status_code == 200, response.text
    return (time.process_time() - started) / requests * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    # The spec's operationIds name this module: the one running, not a second copy.
    sys.modules.setdefault("bench_sqlalchemy", sys.modules[__name__])
    os.environ["CHASSIS_ENV_FILE"] = ""
    if args.postgres:
        url = async_url = POSTGRES_URL
    else:
        path = Path(tempfile.mkdtemp()) / "bench.db"
        url, async_url = f"sqlite:///{path}", f"sqlite+aiosqlite:///{path}"
    HAND["engine"] = create_engine(url)
    HAND["async_url"] = async_url
    classes = [chassis.App] + ([chassis.AsyncApp] if hasattr(chassis, "AsyncApp") else [])
    print(f"database: {url.split('://')[0]}; {args.requests} requests x {args.rounds} rounds")
    print(
        f"{'app class':<10} {'handler':<6} {'plugin us/req':>14} {'hand us/req':>12} {'ratio':>6}"
    )
    for cls in classes:
        app = build(cls, url, async_url)
        HAND.pop("async_engine", None)
        with app.test_client() as client:
            for kind, (mine, theirs) in {
                "sync": ("/one", "/hand"),
                "async": ("/aone", "/ahand"),
            }.items():
                measure(client, mine, 50)  # warm-up: engines, pools, caches
                measure(client, theirs, 50)
                plugin, hand = [], []
                for _ in range(args.rounds):
                    plugin.append(measure(client, mine, args.requests))
                    hand.append(measure(client, theirs, args.requests))
                p, h = statistics.median(plugin), statistics.median(hand)
                print(f"{cls.__name__:<10} {kind:<6} {p:>14.0f} {h:>12.0f} {p / h:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
