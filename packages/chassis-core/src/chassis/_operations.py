"""Mends how Connexion infers a handler's response content type.

Connexion merges the content types of *every* documented response into one ``produces``
list, so an operation that documents its errors as ``application/problem+json`` has two
types and a handler that returns a plain dict fails with "Multiple response content types
are defined in the operation spec" (a 500). Spec-first services should document their errors,
so the operations that the response decorator consults (those of Connexion's
ContextMiddleware) keep only the types of their success responses. Response validation keeps
its own, complete, list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connexion.middleware.context import ContextMiddleware


def _success_types(operation: Any) -> list[str]:
    responses = getattr(operation, "_responses", None) or {}
    types: list[str] = []
    for status, response in responses.items():
        if str(status)[:1] in ("2", "3") and isinstance(response, dict):
            types += [t for t in response.get("content", {}) if t not in types]
    return types


def prefer_success_content_types(stack: Iterable[Any]) -> None:
    """Trim ``produces`` of the context middleware's operations to their success types."""
    for layer in stack:
        if not isinstance(layer, ContextMiddleware):
            continue
        for apis in layer.apis.values():
            for api in apis:
                for routed in api.operations.values():
                    operation = routed.operation
                    success = _success_types(operation)
                    if success and len(set(operation.produces)) > len(success):
                        operation._produces = success
