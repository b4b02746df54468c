"""The rate-limit layer: a routed middleware in the ``authorized`` slot.

After Connexion's security (the principal is known, so requests can be counted per subject)
and before request validation (a refused request costs no body parsing). Each operation's
limits are resolved once, when the API is added: an operation without limits is routed
straight through, at no cost per request.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from chassis import app_path, get_context
from connexion.middleware.abstract import RoutedAPI, RoutedMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._errors import RateLimitExceeded, RateLimitUnavailable
from ._limiter import EXTENSION, Limiter
from ._policy import Policy, sf_string
from ._storage import Hit, StorageUnavailable

logger = logging.getLogger("chassis.ratelimit")

STATE_UNCHECKED = "chassis_ratelimit.unchecked"
"""``current_context.state`` key, ``True`` when the request was served unchecked (fail open)."""


def _service_limits(results: list[tuple[Policy, Hit]]) -> str:
    return ", ".join(
        f"{sf_string(policy.name)};r={hit.remaining};t={hit.reset}" for policy, hit in results
    )


class _LimitedOperation:
    __slots__ = ("describe", "limiter", "method", "next_app", "policies", "policy_field", "route")

    def __init__(
        self,
        next_app: ASGIApp,
        limiter: Limiter,
        policies: tuple[Policy, ...],
        method: str,
        route: str,
    ) -> None:
        self.next_app = next_app
        self.limiter = limiter
        self.policies = policies
        self.method = method
        self.route = route
        self.describe = f"{method} {route}"
        self.policy_field = ", ".join(policy.field for policy in policies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter = self.limiter
        if limiter.excluded and limiter.excluded(app_path(scope)):
            await self.next_app(scope, receive, send)
            return
        context = get_context()
        want_stats = limiter.headers
        results: list[tuple[Policy, Hit]] = []
        keys: dict[tuple[str, ...], str] = {}
        for policy in self.policies:
            sources = policy.key or limiter.key_by
            key = keys.get(sources)
            if key is None:
                key = keys[sources] = limiter.keys.key(sources, scope, context)
            try:
                hit = await limiter.store.hit(policy.item, (self.describe, key), want_stats)
            except StorageUnavailable:
                if limiter.fail_open:
                    limiter.metrics.request(self.method, self.route, "unchecked")
                    if context is not None:
                        context.state[STATE_UNCHECKED] = True
                    await self.next_app(scope, receive, send)
                    return
                limiter.metrics.request(self.method, self.route, "unavailable")
                raise RateLimitUnavailable(limiter.retry_after) from None
            if not hit.allowed:
                limiter.metrics.request(self.method, self.route, "refused")
                self._refuse(policy, hit)
            results.append((policy, hit))
        limiter.metrics.request(self.method, self.route, "allowed")
        if not want_stats:
            await self.next_app(scope, receive, send)
            return
        policy_field = self.policy_field.encode("latin-1")
        limit_field = _service_limits(results).encode("latin-1")

        async def send_with_fields(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or ())
                headers.append((b"ratelimit-policy", policy_field))
                headers.append((b"ratelimit", limit_field))
                message["headers"] = headers
            await send(message)

        await self.next_app(scope, receive, send_with_fields)

    def _refuse(self, policy: Policy, hit: Hit) -> None:
        retry_after = max(1, hit.reset or 1)
        raise RateLimitExceeded(
            f"Rate limit exceeded: at most {policy.limit} requests per {policy.window} s "
            f"for {self.describe}. Retry in {retry_after} s.",
            retry_after=retry_after,
            violated=[policy.name],
            headers={
                "RateLimit-Policy": self.policy_field,
                "RateLimit": f"{sf_string(policy.name)};r=0;t={retry_after}",
            },
        )


def _describe(operation: Any) -> str:
    return f"{operation.method.upper()} {operation.path} ({operation.operation_id})"


class _RateLimitAPI(RoutedAPI[Any]):
    def __init__(self, *args: Any, limiter: Limiter, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limiter = limiter
        self.add_paths()

    def make_operation(self, operation: Any) -> Any:
        raw: MutableMapping[str, Any] = (
            self.specification.get_operation(operation.path, operation.method) or {}
        )
        method = operation.method.upper()
        try:
            policies = self.limiter.policies_for(
                operation.operation_id, method, operation.path, raw.get(EXTENSION)
            )
        except ValueError as error:
            raise ValueError(f"invalid {EXTENSION} on {_describe(operation)}: {error}") from None
        if not policies:
            return self.next_app
        route = f"{self.base_path}{operation.path}"
        logger.debug("%s %s limited: %s", method, route, ", ".join(p.field for p in policies))
        return _LimitedOperation(self.next_app, self.limiter, policies, method, route)


class RateLimitMiddleware(RoutedMiddleware[_RateLimitAPI]):
    """Added by the plugin in the ``authorized`` slot (``BEFORE_VALIDATION``)."""

    api_cls = _RateLimitAPI

    def __init__(self, app: ASGIApp, *, limiter: Limiter) -> None:
        super().__init__(app)
        self.limiter = limiter

    def add_api(self, specification: Any, **kwargs: Any) -> _RateLimitAPI:
        api = _RateLimitAPI(specification, next_app=self.app, limiter=self.limiter, **kwargs)
        self.apis[api.base_path].append(api)
        return api
