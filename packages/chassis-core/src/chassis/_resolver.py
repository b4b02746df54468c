"""connexion-plus's MultipleResourceResolver, on Connexion 3's RestyResolver."""

from __future__ import annotations

from typing import Any

from connexion.resolver import RestyResolver


class MultipleResourceResolver(RestyResolver):
    """Resolves ``/res1/{id}/res2`` to module ``res1.res2`` or, failing that, ``res1res2``.

    Both live in the API package given as ``default_module_name``; function names follow
    :class:`connexion.resolver.RestyResolver` (``search`` for a collection ``GET``, else the
    method: ``get``, ``post``, ``put``, ``delete``...). An explicit ``operationId`` or
    ``x-openapi-router-controller`` is used as is.
    """

    def resolve_operation_id(self, operation: Any) -> str:
        nested: str = super().resolve_operation_id(operation)
        if operation.operation_id or operation.router_controller:
            return nested
        module, function = nested.rsplit(".", 1)
        resources = module[len(self.default_module_name) + 1 :].split(".")
        if len(resources) < 2:
            return nested
        try:
            self.function_resolver(nested)
        except (ImportError, AttributeError, ValueError):
            return f"{self.default_module_name}.{''.join(resources)}.{function}"
        return nested
