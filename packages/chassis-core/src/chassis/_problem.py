"""problem+json (RFC 9457) bodies and responses that always carry the request's ids."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connexion.lifecycle import ConnexionResponse

from ._context import get_context

PROBLEM_MEDIA_TYPE = "application/problem+json"

GENERIC_500_DETAIL = "The server encountered an internal error and could not complete the request."


def problem_dict(
    status: int,
    title: str,
    detail: str | None,
    type: str = "about:blank",
    extensions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": type, "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if extensions:
        body.update(extensions)
    context = get_context()
    if context is not None:
        body.update(context.fields)
    return body


def problem_body(status: int, title: str, detail: str | None, **extensions: Any) -> bytes:
    if status >= 500 and detail is None:
        detail = GENERIC_500_DETAIL
    return json.dumps(
        problem_dict(status, title, detail, extensions=extensions), default=str
    ).encode()


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    type: str = "about:blank",
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> ConnexionResponse:
    """A problem+json ``ConnexionResponse`` with the request id (and trace id) added.

    Use it in error handlers registered with ``app.add_error_handler``.
    """
    body = problem_dict(status, title, detail, type, extensions)
    return ConnexionResponse(
        status_code=status,
        mimetype=PROBLEM_MEDIA_TYPE,
        content_type=PROBLEM_MEDIA_TYPE,
        body=json.dumps(body, default=str),
        headers=dict(headers or {}),
    )
