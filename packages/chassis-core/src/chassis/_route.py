"""Records the matched route template (``/premises/{premises_id}``) in the request scope.

Connexion's routing puts only the operation id in the scope; metrics labels, span names and
cache keys want the template. This routed middleware knows each operation's path from the
spec and stores ``base_path + path`` under ``scope["extensions"]["chassis_route"]``, where
``chassis.current_context.route`` reads it.
"""

from __future__ import annotations

from typing import Any

from connexion.middleware.abstract import RoutedAPI, RoutedMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

ROUTE_KEY = "chassis_route"


class _RouteOperation:
    def __init__(self, next_app: ASGIApp, route: str) -> None:
        self.next_app = next_app
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["extensions"][ROUTE_KEY] = self.route
        await self.next_app(scope, receive, send)


class _RouteAPI(RoutedAPI[_RouteOperation]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_paths()

    def make_operation(self, operation: Any) -> _RouteOperation:
        return _RouteOperation(self.next_app, f"{self.base_path}{operation.path}")


class RouteMiddleware(RoutedMiddleware[_RouteAPI]):
    api_cls = _RouteAPI
