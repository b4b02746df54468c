"""Operation handlers of the optimizer tests' spec, counting their calls."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from collections import Counter
from typing import Any

import chassis
import connexion
import flask
from chassis_optimizer import (
    FlaskOptimize,
    do_compress,
    do_minify,
    do_not_cache,
    do_not_compress,
    do_not_minify,
    set_cache_timeout,
)

calls: Counter[str] = Counter()


def _respond(body: Any, media_type: str, headers: dict[str, str] | None = None) -> Any:
    """A response of the app class serving the request (Flask's or Starlette's)."""
    if flask.has_request_context():
        return flask.Response(body, mimetype=media_type, headers=headers)
    from starlette.responses import Response, StreamingResponse

    if isinstance(body, (bytes, str)):
        return Response(body, media_type=media_type, headers=headers)
    return StreamingResponse(body, media_type=media_type, headers=headers)


def _path() -> str:
    """The request's path, as a view reads it (Flask's ``request.path`` under chassis.App)."""
    if flask.has_request_context():
        return flask.request.path
    return chassis.app_path(connexion.context.scope)


ITEMS = [
    {
        "id": number,
        "address": f"{number * 7 % 113} Church Lane",
        "postcode": f"GL{number % 56} {number % 9}AB",
        "community": ["Winson", "Bibury", "Ablington", "Quenington"][number % 4],
        "rfs": number % 3 == 0,
        "rfs_date": f"2021-{number % 12 + 1:02d}-{number % 28 + 1:02d}",
        "segment": f"S{number % 4 + 1}",
    }
    for number in range(1, 101)
]

PAGE = (
    """<!DOCTYPE html>
<html>
  <head>
    <title>  A page  </title>
    <style>
      body   {   color :  red ;  }
    </style>
  </head>
  <body>
    <!-- a comment -->
    <p>
      Hello,      world.
    </p>
  </body>
</html>
"""
    + "<p>  filler   text   </p>\n" * 40
)


def list_items(limit: int = 100, community: str | None = None) -> list[dict[str, Any]]:
    calls["list_items"] += 1
    items = ITEMS[:limit]
    if community:
        items = [item for item in items if item["community"] == community]
    return items


def small() -> dict[str, Any]:
    calls["small"] += 1
    return {"ok": True}


@set_cache_timeout(60)
def cached_items() -> list[dict[str, Any]]:
    calls["cached_items"] += 1
    return ITEMS


@FlaskOptimize.set_cache_timeout(60, shared=True)
def shared_items() -> list[dict[str, Any]]:
    calls["shared_items"] += 1
    return ITEMS


def spec_cached() -> list[dict[str, Any]]:
    calls["spec_cached"] += 1
    return ITEMS


def whoami() -> tuple[list[dict[str, Any]], int, dict[str, str]]:
    calls["whoami"] += 1
    user = connexion.request.headers.get("Authorization", "anonymous")
    return [{"user": user, **item} for item in ITEMS[:20]], 200, {}


def by_language() -> tuple[list[dict[str, Any]], int, dict[str, str]]:
    calls["by_language"] += 1
    language = connexion.request.headers.get("Accept-Language", "en")
    return [{"language": language, **item} for item in ITEMS[:20]], 200, {"Vary": "Accept-Language"}


def with_cookie() -> tuple[list[dict[str, Any]], int, dict[str, str]]:
    calls["with_cookie"] += 1
    return ITEMS[:20], 200, {"Set-Cookie": "session=abc"}


@set_cache_timeout
def default_timeout() -> dict[str, Any]:
    calls["default_timeout"] += 1
    return {"items": ITEMS[:3]}


@do_not_compress
def uncompressed() -> list[dict[str, Any]]:
    calls["uncompressed"] += 1
    return ITEMS


@FlaskOptimize.do_not_compress()
def uncompressed_plus() -> list[dict[str, Any]]:
    return ITEMS


@do_compress
def compressed() -> list[dict[str, Any]]:
    return ITEMS


@do_not_minify
def pretty() -> dict[str, Any]:
    return {"a": 1, "b": [1, 2]}


@FlaskOptimize.do_not_minify()
def page_as_is() -> tuple[str, int, dict[str, str]]:
    return PAGE, 200, {"Content-Type": "text/html"}


@do_minify
def page_minified() -> tuple[str, int, dict[str, str]]:
    return PAGE, 200, {"Content-Type": "text/html"}


def page() -> tuple[str, int, dict[str, str]]:
    return PAGE, 200, {"Content-Type": "text/html"}


@do_not_cache
def never_cached() -> list[dict[str, Any]]:
    calls["never_cached"] += 1
    return ITEMS


def types() -> dict[Any, Any]:
    return {
        "when": datetime.datetime(2024, 5, 1, 12, 30, 0),
        "aware": datetime.datetime(2024, 5, 1, 12, 30, 0, tzinfo=datetime.timezone.utc),
        "day": datetime.date(2024, 5, 1),
        "price": decimal.Decimal("12.50"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        1: "one",
        "big": 2**70,
    }


def stream() -> Any:
    def generate() -> Any:
        for number in range(50):
            yield f"data: {'x' * 40} {number}\n\n"

    return _respond(generate(), "text/event-stream")


def chunked() -> Any:
    def generate() -> Any:
        for item in ITEMS:
            yield json.dumps(item) + "\n"

    return _respond(generate(), "application/x-ndjson")


def csv() -> tuple[str, int, dict[str, str]]:
    rows = "\n".join(f"{item['id']},{item['address']},{item['postcode']}" for item in ITEMS)
    return "id,address,postcode\n" + rows, 200, {"Content-Type": "text/csv"}


def already_encoded() -> Any:
    import gzip

    body = gzip.compress(json.dumps(ITEMS).encode())
    return _respond(body, "application/json", {"Content-Encoding": "gzip"})


def identity_encoded() -> Any:
    """A JSON body the view labels ``Content-Encoding: identity`` (that is, not encoded)."""
    body = json.dumps(ITEMS).encode()
    return _respond(body, "application/json", {"Content-Encoding": "identity"})


def endless() -> Any:
    """Server-sent events that go on (for about 20 s): a HEAD must not run them.
    ``calls["endless_chunks"]`` counts the events produced."""

    def generate() -> Any:
        import time

        for number in range(2000):
            calls["endless_chunks"] += 1
            yield f"data: {number}\n\n"
            time.sleep(0.01)

    return _respond(generate(), "text/event-stream")


def probe_head() -> tuple[None, int, dict[str, str]]:
    """The spec's own HEAD operation (declared before the GET of its path)."""
    calls["probe_head"] += 1
    return None, 200, {"X-Probe": "head", "ETag": '"probe"'}


def probe_get() -> list[dict[str, Any]]:
    calls["probe_get"] += 1
    return ITEMS


def no_content() -> tuple[None, int]:
    return None, 204


def fail() -> dict[str, Any]:
    raise RuntimeError("boom " + "x" * 800)


def secured() -> list[dict[str, Any]]:
    calls["secured"] += 1
    return ITEMS[:20]


def api_key_info(key: str, required_scopes: Any = None) -> dict[str, Any] | None:
    return {"sub": key} if key.startswith("key-") else None


def post_items(body: Any = None) -> tuple[list[dict[str, Any]], int]:
    calls["post_items"] += 1
    return ITEMS, 200


def etagged() -> tuple[list[dict[str, Any]], int, dict[str, str]]:
    return ITEMS, 200, {"ETag": '"v1"'}


@set_cache_timeout(60)
@do_compress
def spec_uncached() -> list[dict[str, Any]]:
    calls["spec_uncached"] += 1
    return ITEMS


def spec_pretty() -> dict[str, Any]:
    return {"a": 1, "b": [1, 2]}


def short_lived() -> list[dict[str, Any]]:
    calls["short_lived"] += 1
    return ITEMS[:10]


def private_items() -> tuple[list[dict[str, Any]], int, dict[str, str]]:
    calls["private_items"] += 1
    return ITEMS[:5], 200, {"Cache-Control": "private, max-age=5"}


def slow_items() -> list[dict[str, Any]]:
    import time

    calls["slow_items"] += 1
    time.sleep(0.3)
    return ITEMS[:10]


# -- records: a tiny resource that changes, for invalidation and coalescing --------------

RECORDS: dict[int, dict[str, Any]] = {}
"""The "database" of the record views (shared by every App of the process, as workers share
one); reset before each test."""


class Gate:
    """Holds the first call of a view until the test lets it go: ``entered`` is set once the
    view has read its data, ``release`` lets it return."""

    def __init__(self) -> None:
        import threading

        self.entered = threading.Event()
        self.release = threading.Event()
        self.used = False

    def hold(self) -> None:
        if self.used:
            return
        self.used = True
        self.entered.set()
        if not self.release.wait(10):
            raise RuntimeError("the test never released the gate")


gates: dict[str, Gate] = {}
"""``gates[view name]``: the first call of that view waits at its gate."""


def _gate(name: str) -> None:
    gate = gates.get(name)
    if gate is not None:
        gate.hold()


def list_records(page: int = 1) -> list[dict[str, Any]]:
    calls["list_records"] += 1
    return [RECORDS[number] for number in sorted(RECORDS)]


def get_record(record_id: int, fields: str | None = None) -> Any:
    calls["get_record"] += 1
    record = RECORDS.get(record_id)
    if record is None:
        return {"title": "Not Found", "status": 404}, 404
    found = dict(record)
    _gate("get_record")
    if fields:
        found = {key: value for key, value in found.items() if key in fields.split(",")}
    return found


def record_notes(record_id: int) -> Any:
    calls["record_notes"] += 1
    record = RECORDS.get(record_id)
    return {"record": record_id, "notes": record.get("notes", []) if record else []}


def create_record(body: dict[str, Any]) -> Any:
    number = max(RECORDS, default=0) + 1
    RECORDS[number] = {"id": number, **body}
    return RECORDS[number], 201


def put_record(record_id: int, body: dict[str, Any], invalidate: str = "none") -> Any:
    import chassis_optimizer

    if record_id not in RECORDS:
        return {"title": "Not Found", "status": 404}, 404
    RECORDS[record_id] = {"id": record_id, **body}
    path = _path()
    if invalidate == "path":
        chassis_optimizer.invalidate(chassis.current_context.app, path=path)
    elif invalidate == "collection":
        chassis_optimizer.invalidate(chassis.current_context.app, path=path, prefix="/records")
    return RECORDS[record_id]


async def patch_record(record_id: int, body: dict[str, Any]) -> Any:
    """An ``async def`` view (chassis runs it on an event loop of its own) that updates a
    record and awaits ``ainvalidate`` for its path and its collection."""
    import chassis_optimizer

    if record_id not in RECORDS:
        return {"title": "Not Found", "status": 404}, 404
    RECORDS[record_id] = {**RECORDS[record_id], **body}
    done = await chassis_optimizer.ainvalidate(
        chassis.current_context.app, path=_path(), prefix="/records"
    )
    return {**RECORDS[record_id], "invalidated": done}


def delete_record(record_id: int) -> Any:
    RECORDS.pop(record_id, None)
    return None, 204


def slow_record(record_id: int) -> Any:
    """A slow, counted view: the leader of a burst of misses."""
    import time

    calls["slow_record"] += 1
    _gate("slow_record")
    time.sleep(0.2)
    return {"id": record_id, "calls": 1, "data": ITEMS[:10]}


def flaky_record(record_id: int) -> Any:
    """Raises on its first call (held at its gate until the test lets it go)."""
    calls["flaky_record"] += 1
    first = calls["flaky_record"] == 1
    _gate("flaky_record")
    if first:
        raise RuntimeError("the leader fails")
    return {"id": record_id, "data": ITEMS[:10]}
