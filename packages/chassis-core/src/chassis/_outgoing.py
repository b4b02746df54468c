"""Headers that carry the request's identity to the next service."""

from __future__ import annotations

from collections.abc import Mapping

from ._context import get_context


def outgoing_headers(headers: Mapping[str, str] | None = None) -> dict[str, str]:
    """Headers for an outgoing HTTP call made while serving a request.

    Returns a copy of ``headers`` with the request id added (under the app's request-id
    header) and whatever plugins add through the ``outgoing_headers`` hook (trace context with
    the tracing plugin). Outside a request it returns the headers unchanged.

    Example::

        httpx.get(url, headers=chassis.outgoing_headers({"Accept": "application/json"}))
    """
    result = dict(headers or {})
    context = get_context()
    if context is None or context.app is None:
        return result
    header = context.app.settings.request_id_header
    if header.lower() not in {name.lower() for name in result}:  # the caller's id wins
        result[header] = context.request_id
    context.app.plugin_manager.hook.outgoing_headers(headers=result)
    return result
