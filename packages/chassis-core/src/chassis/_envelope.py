"""The ``{"meta": ..., "data": ...}`` envelope, a built-in plugin switched on by settings."""

from __future__ import annotations

from ._context import get_context
from ._markers import hookimpl
from ._responses import OperationResult


@hookimpl(trylast=True)
def wrap_response(result: OperationResult) -> None:
    if not result.is_json:
        return
    context = get_context()
    meta = {"request_id": context.request_id} if context is not None else {}
    meta.update(result.meta)
    result.body = {"meta": meta, "data": result.body}
