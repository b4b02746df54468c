"""Handlers of the chassis-sqlalchemy tests: the request's session, sync and async."""

from __future__ import annotations

import threading
from typing import Any

import chassis_sqlalchemy
from sqlalchemy import text

RELEASE = threading.Event()
HOLDING = threading.Event()


def _outcome(text_: str, fail: str | None) -> Any:
    if fail == "raise":
        raise RuntimeError("the handler failed after writing")
    if fail == "conflict":
        return {"title": "refused"}, 409
    return {"text": text_}, 201


def list_notes() -> list[str]:
    rows = chassis_sqlalchemy.session().execute(text("SELECT body FROM notes ORDER BY body"))
    return [row[0] for row in rows]


def add_note(text: str, fail: str | None = None) -> Any:
    from sqlalchemy import text as sql

    chassis_sqlalchemy.session().execute(sql("INSERT INTO notes (body) VALUES (:b)"), {"b": text})
    return _outcome(text, fail)


async def list_notes_async() -> list[str]:
    session = chassis_sqlalchemy.async_session()
    rows = await session.execute(text("SELECT body FROM notes ORDER BY body"))
    return [row[0] for row in rows]


async def add_note_async(text: str, fail: str | None = None) -> Any:
    from sqlalchemy import text as sql

    session = chassis_sqlalchemy.async_session()
    await session.execute(sql("INSERT INTO notes (body) VALUES (:b)"), {"b": text})
    return _outcome(text, fail)


def same_session() -> dict[str, bool]:
    return {"same": chassis_sqlalchemy.session() is chassis_sqlalchemy.session()}


def hold_connection() -> dict[str, bool]:
    chassis_sqlalchemy.session().execute(text("SELECT 1"))
    HOLDING.set()
    return {"released": RELEASE.wait(10)}


def reporting() -> dict[str, int]:
    return {"one": chassis_sqlalchemy.session("reporting").execute(text("SELECT 1")).scalar_one()}


def add_twice_deferred() -> Any:
    session = chassis_sqlalchemy.session()
    session.execute(text("INSERT INTO deferred (value) VALUES (1), (1)"))
    return {"added": 2}, 201


def broken() -> Any:
    raise RuntimeError("always")
