"""A JSON (or problem+json) response sent straight on the ASGI ``send`` channel.

For the endpoints the kernel answers itself, before routing (probes, /info, /loggers).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.types import Send

from ._problem import PROBLEM_MEDIA_TYPE, problem_body


async def send_json(
    send: Send,
    status: int,
    body: Any,
    *,
    head: bool = False,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """``body`` as JSON, never cached (these answers describe the process right now)."""
    payload = json.dumps(body, default=str).encode()
    await _send(send, status, payload, b"application/json", head, headers)


async def send_problem(
    send: Send,
    status: int,
    title: str,
    detail: str | None,
    *,
    head: bool = False,
    headers: Iterable[tuple[bytes, bytes]] = (),
    **extensions: Any,
) -> None:
    """A problem+json answer with the request's ids (for layers outside Connexion's error
    handlers, which cannot raise an ``HTTPException`` and have it answered)."""
    payload = problem_body(status, title, detail, **extensions)
    await _send(send, status, payload, PROBLEM_MEDIA_TYPE.encode(), head, headers)


async def _send(
    send: Send,
    status: int,
    payload: bytes,
    content_type: bytes,
    head: bool,
    headers: Iterable[tuple[bytes, bytes]],
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(payload)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else payload})
