"""Readiness: each database answers, and its alembic revision is the scripts' head."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import chassis

from ._engines import Database, Databases
from ._settings import DEFAULT

CHECK = "database"
"""The readiness check of the default database; a named one is ``database.<name>``."""


def check_name(database: str) -> str:
    return CHECK if database == DEFAULT else f"{CHECK}.{database}"


async def report(databases: Databases) -> dict[str, dict[str, Any]]:
    names = list(databases.by_name)
    found = await asyncio.gather(*(_check(databases.by_name[name]) for name in names))
    return {check_name(name): detail for name, detail in zip(names, found, strict=True)}


async def _check(database: Database) -> dict[str, Any]:
    started = time.perf_counter()
    detail: dict[str, Any] = {"status": "up", "dialect": _dialect(database)}
    try:
        if database.wants_async and database._async_engine is not None:
            state = await _async_state(database)
        elif database.wants_sync:
            state = await asyncio.to_thread(_sync_state, database)
        else:
            state = {
                "status": "down",
                "error": "not started (the async engine starts with the server)",
            }
    except Exception as error:
        text = str(getattr(error, "orig", None) or error).strip().splitlines()
        reason = f"{type(error).__name__}: {text[0] if text else ''}"[:300]
        return {**detail, "status": "down", "error": chassis.redact_credentials(reason)}
    detail.update(state)
    if detail.get("migrations") in ("behind", "none") and not database.settings.ready_when_behind:
        detail["status"] = "down"
        detail["error"] = (
            f"the database's revision ({detail.get('last_migration')}) is behind the migration "
            f"scripts' head ({detail.get('head')}): run `chassis db upgrade`"
        )
    detail["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return detail


def _dialect(database: Database) -> str:
    from sqlalchemy.engine import make_url

    return make_url(database.migration_url).get_backend_name()


def _sync_state(database: Database) -> dict[str, Any]:
    from sqlalchemy import text

    from ._migrations import revision_state

    with database.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        return revision_state(connection, database)


async def _async_state(database: Database) -> dict[str, Any]:
    from sqlalchemy import text

    from ._migrations import revision_state

    async with database.async_engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
        state: dict[str, Any] = await connection.run_sync(revision_state, database)
        return state
