"""The ``{"meta": ..., "data": ...}`` envelope, a built-in plugin switched on by settings."""

from __future__ import annotations

from typing import Any

from connexion.datastructures import MediaTypeDict
from connexion.validators import VALIDATOR_MAP, JSONResponseBodyValidator

from ._context import get_context
from ._markers import hookimpl
from ._responses import OperationResult


@hookimpl
def configure_app(app: Any) -> None:
    # App-wide, so every add_api validates enveloped bodies (BaseApp.add_api also adapts a
    # validator_map given to add_api itself).
    options = app.middleware.options
    options.validator_map = validator_map(options.validator_map)


@hookimpl(trylast=True)
def wrap_response(result: OperationResult) -> None:
    if not result.is_json:
        return
    context = get_context()
    meta = {"request_id": context.request_id} if context is not None else {}
    meta.update(result.meta)
    result.body = {"meta": meta, "data": result.body}


class EnvelopeResponseValidator(JSONResponseBodyValidator):
    """Response validation (``validate_responses=True``) of enveloped bodies.

    The spec documents what the handler returns, the ``data``; chassis adds the envelope. So
    ``data`` is validated against the response schema, unless the schema itself documents
    the envelope (has a ``meta`` property), in which case the whole body is.
    """

    def _validate(self, body: Any) -> None:
        if _is_envelope(body) and not _documents_envelope(self._schema):
            body = body["data"]
        super()._validate(body)


def _is_envelope(body: Any) -> bool:
    return isinstance(body, dict) and body.keys() == {"meta", "data"}


def _documents_envelope(schema: Any) -> bool:
    return isinstance(schema, dict) and "meta" in (schema.get("properties") or {})


def validator_map(current: dict[str, Any] | None) -> dict[str, Any]:
    """Connexion's ``validator_map`` with JSON responses validated as enveloped; a response
    validator map the application gave keeps precedence."""
    merged = dict(current or {})
    response = merged.get("response") or VALIDATOR_MAP["response"]
    if response.get("*/*json", JSONResponseBodyValidator) is JSONResponseBodyValidator:
        merged["response"] = MediaTypeDict({**response, "*/*json": EnvelopeResponseValidator})
    return merged
