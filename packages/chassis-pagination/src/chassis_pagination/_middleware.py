"""Per-operation options and early checks of the pagination query parameters.

A routed middleware placed before Connexion's request validation. For each operation that
opts in to pagination, with the ``x-chassis-pagination`` extension or by taking one of the
package's parameter components (``offset``, ``limit`` or ``cursor`` carrying
``x-chassis-pagination-parameter``, as ``openapi/pagination.yaml``'s do), it

- puts the operation's limits in ``current_context.state`` for ``paginate``;
- checks ``offset``, ``limit`` and ``cursor`` (its signature), so a bad one gets a 400 that
  names the parameter and says why, instead of Connexion's JSON-schema message.

Every other operation is routed straight through, at no cost, even one that declares query
parameters named ``offset``, ``limit`` or ``cursor`` of its own: Connexion validates those
against their schemas and hands them to the handler as they are.
"""

from __future__ import annotations

import logging
from typing import Any

from chassis import get_context
from connexion.middleware.abstract import RoutedAPI, RoutedMiddleware
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from ._config import STATE_LIMITS, PaginationConfig
from ._params import CURSOR, LIMIT, OFFSET, PAGE_PARAMETERS, Limits, parse_page_request
from ._params import query_values as _query_values
from ._settings import OperationOptions

logger = logging.getLogger("chassis.pagination")

EXTENSION = "x-chassis-pagination"
"""The operation's opt-in, with its options: ``{}`` (or ``true``), ``{max_limit: 500}``...;
``false`` opts out even an operation that takes the package's components."""

PARAMETER_MARKER = "x-chassis-pagination-parameter"
"""Carried by the package's parameter components: an operation taking one is paginated."""


class _PaginatedOperation:
    def __init__(self, next_app: ASGIApp, limits: Limits, config: PaginationConfig) -> None:
        self.next_app = next_app
        self.limits = limits
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        context = get_context()
        if context is not None:
            context.state[STATE_LIMITS] = self.limits
        values = _query_values(scope.get("query_string", b""))
        if values:
            request = parse_page_request(values, self.limits)
            if request.cursor is not None:
                self.config.codec.decode(request.cursor)
        await self.next_app(scope, receive, send)


def _describe(operation: Any) -> str:
    return f"{operation.method.upper()} {operation.path} ({operation.operation_id})"


class _PaginationAPI(RoutedAPI[Any]):
    def __init__(self, *args: Any, config: PaginationConfig, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config = config
        self.add_paths()

    def make_operation(self, operation: Any) -> Any:
        raw = self.specification.get_operation(operation.path, operation.method) or {}
        declared = {
            parameter.get("name"): parameter
            for parameter in operation.parameters
            if parameter.get("in") == "query" and parameter.get("name") in PAGE_PARAMETERS
        }
        extension = raw.get(EXTENSION)
        if extension is True:  # opted in, without options
            extension = {}
        ours = any(parameter.get(PARAMETER_MARKER) is True for parameter in declared.values())
        if extension is False or (extension is None and not ours):
            # Not paginated: parameters of these names, if any, are the operation's own.
            return self.next_app
        limits = self.config.limits
        if extension is not None:
            try:
                options = OperationOptions.model_validate(extension)
                limits = limits.merged(options.overrides())
            except (ValidationError, ValueError) as error:
                raise ValueError(
                    f"invalid {EXTENSION} on {_describe(operation)}: {error}"
                ) from None
        self._check_declared(operation, declared, limits)
        if CURSOR in declared:
            self.config.uses_cursors(f"{_describe(operation)} takes a cursor")
        return _PaginatedOperation(self.next_app, limits, self.config)

    @staticmethod
    def _check_declared(operation: Any, declared: dict[str, Any], limits: Limits) -> None:
        """Warn when the spec's parameter schemas would reject what the settings allow."""
        schema = (declared.get(LIMIT) or {}).get("schema") or {}
        maximum = schema.get("maximum")
        if maximum is not None and maximum != limits.max_limit:
            logger.warning(
                "%s declares limit maximum %s but its max_limit is %s: Connexion's validation "
                "and the pagination plugin disagree (see chassis_pagination.with_components)",
                _describe(operation),
                maximum,
                limits.max_limit,
            )
        offset_schema = (declared.get(OFFSET) or {}).get("schema") or {}
        if offset_schema.get("type") not in (None, "integer"):
            logger.warning("%s declares offset as a non-integer", _describe(operation))
        cursor_schema = (declared.get(CURSOR) or {}).get("schema") or {}
        if cursor_schema.get("type") not in (None, "string"):
            logger.warning("%s declares cursor as a non-string", _describe(operation))


class PaginationMiddleware(RoutedMiddleware[_PaginationAPI]):
    """Added by the plugin at ``MiddlewarePosition.BEFORE_VALIDATION``."""

    api_cls = _PaginationAPI

    def __init__(self, app: ASGIApp, *, config: PaginationConfig) -> None:
        super().__init__(app)
        self.config = config

    def add_api(self, specification: Any, **kwargs: Any) -> _PaginationAPI:
        api = _PaginationAPI(specification, next_app=self.app, config=self.config, **kwargs)
        self.apis[api.base_path].append(api)
        return api
