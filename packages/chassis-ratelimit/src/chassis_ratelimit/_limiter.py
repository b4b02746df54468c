"""One :class:`Limiter` per App: the settings turned into ready-to-use pieces (the storage,
the key maker, the policies of each operation), shared by the middleware and the health
check."""

from __future__ import annotations

import math
from typing import Any

import chassis

from ._keys import KeyMaker
from ._metrics import RateLimitMetrics
from ._policy import Policy, parse_policies
from ._settings import RateLimitSettings
from ._storage import MemoryStore, RedisStore, Store

EXTENSION = "x-chassis-ratelimit"
"""The operation's limits in the OpenAPI document (see ``_policy`` for the forms)."""


class Limiter:
    """The rate limits of one app."""

    def __init__(self, app: Any, settings: RateLimitSettings) -> None:
        core = app.settings
        self.settings = settings
        self.fail_open = settings.fail_open
        self.headers = settings.headers
        self.retry_after = max(1, math.ceil(settings.retry_interval))
        self.key_by = tuple(settings.key_by)
        self.keys = KeyMaker(
            api_key_header=settings.api_key_header,
            trusted_proxies=settings.trusted_proxies,
            forwarded_header=settings.forwarded_header,
            ipv6_prefix=settings.ipv6_prefix,
        )
        self.excluded = chassis.PathPatterns(settings.exclude_paths)
        self.defaults = parse_policies(settings.default_limits)
        self.overrides = {
            name.strip(): parse_policies(value) for name, value in settings.overrides.items()
        }
        self.metrics = RateLimitMetrics()
        self.metrics.bind(app)
        self.key_prefix = (
            settings.key_prefix
            if settings.key_prefix is not None
            else f"chassis:ratelimit:{core.service_name}"
        )
        self.store: Store = self._store(core.service_name)

    def _store(self, service_name: str) -> Store:
        url = self.settings.storage_url.get_secret_value()
        if url.lower().startswith("memory://"):
            return MemoryStore()
        return RedisStore(
            url,
            key_prefix=self.key_prefix,
            client_name="chassis-ratelimit:"
            + "".join(c if c.isprintable() and not c.isspace() else "_" for c in service_name),
            timeout=self.settings.storage_timeout,
            retry_interval=self.settings.retry_interval,
            warn_interval=self.settings.warn_interval,
            on_error=self.metrics.storage_error,
        )

    def policies_for(
        self, operation_id: str | None, method: str, path: str, declared: Any
    ) -> tuple[Policy, ...]:
        """The limits of one operation: an override in the settings (by operationId, or
        ``METHOD /path``), else the spec's extension, else ``default_limits``."""
        for name in (operation_id, f"{method.upper()} {path}"):
            if name is not None and name in self.overrides:
                return self.overrides[name]
        if declared is not None:
            return parse_policies(declared)
        return self.defaults

    async def health(self) -> dict[str, Any]:
        detail = await self.store.health()
        if detail.get("degraded"):
            detail["fail_open"] = self.fail_open
            if not self.fail_open:
                detail["status"] = "down"
        return detail
