"""One :class:`Idempotency` per App: the settings turned into what the layers use."""

from __future__ import annotations

import logging
from typing import Any

import chassis

from ._metrics import IdempotencyMetrics
from ._record import UNSTORED
from ._settings import IdempotencySettings
from ._store import MemoryStore, Store

logger = logging.getLogger("chassis.idempotency")

URL_SCHEMES = ("redis", "rediss", "unix", "memory")


def check_store_url(settings: IdempotencySettings) -> str | None:
    """The store's URL (``None``: memory), or a :class:`chassis.SettingsError` naming the
    setting."""
    if settings.store_url is None:
        return None
    url = settings.store_url.get_secret_value()
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    variable = "CHASSIS_IDEMPOTENCY__STORE_URL (idempotency.store_url)"
    if scheme not in URL_SCHEMES:
        raise chassis.SettingsError(
            f"Invalid settings:\n  {variable}: must be a redis://, rediss:// or unix:// URL, "
            f"or memory:// (got {scheme + ':// URL' if scheme else 'a value without a scheme'})"
        )
    if scheme == "memory":
        return None
    try:
        from redis.asyncio import Redis
    except ImportError:
        raise chassis.SettingsError(
            f"Invalid settings:\n  {variable}: a Redis store needs the redis package: "
            "pip install 'chassis-idempotency[redis]'"
        ) from None
    try:
        Redis.from_url(url)  # parses the URL; connects on first use
    except ValueError as error:
        message = str(error).replace(url, "<url>")  # the URL may hold a password
        raise chassis.SettingsError(
            f"Invalid settings:\n  {variable}: not a valid Redis URL: {message}"
        ) from None
    return url


class Idempotency:
    """The plugin's per-app object (``plugin.state``)."""

    def __init__(self, app: Any, settings: IdempotencySettings) -> None:
        core = app.settings
        self.settings = settings
        self.header = settings.header.lower().encode("latin-1")
        self.methods: set[str] = set(settings.methods)
        """Methods of the operations the layers look at (the setting's, and those of
        operations that opt in with x-chassis-idempotency)."""
        self.prefix = (
            settings.key_prefix
            if settings.key_prefix is not None
            else f"chassis:idempotency:{core.service_name}:"
        )
        self.replay_header = settings.replay_header.encode("latin-1")
        self.unstored = UNSTORED | {core.request_id_header.lower().encode("latin-1")}
        self.metrics = IdempotencyMetrics()
        self.metrics.bind(app)
        self.store: Store = self._store(check_store_url(settings), core.service_name)
        self.warned_large: set[str] = set()

    def _store(self, url: str | None, service_name: str) -> Store:
        if url is None:
            return MemoryStore(self.settings.memory_max_entries)
        from ._redis import RedisStore

        return RedisStore(
            url,
            client_name="chassis-idempotency:"
            + "".join(c if c.isprintable() and not c.isspace() else "_" for c in service_name),
            timeout=self.settings.store_timeout,
            retry_interval=self.settings.retry_interval,
            on_error=self.metrics.store_error,
        )

    async def health(self) -> dict[str, Any]:
        return await self.store.health()
