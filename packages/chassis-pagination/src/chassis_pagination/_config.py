"""What the plugin keeps per App, and where ``paginate`` finds it during a request."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from ._cursor import CursorCodec, process_codec
from ._params import Limits
from ._settings import PaginationSettings

logger = logging.getLogger("chassis.pagination")


STATE_LIMITS = "chassis_pagination.limits"
"""``current_context.state`` key: the operation's :class:`Limits` (set by the middleware)."""

STATE_PAGE = "chassis_pagination.page"
"""``current_context.state`` key: the last page made by ``paginate`` (read by wrap_response)."""


class PaginationConfig:
    """Limits, the total header and the cursor codec of one App."""

    def __init__(
        self, limits: Limits, total_header: str, codec: CursorCodec, random_secret: bool
    ) -> None:
        self.limits = limits
        self.total_header = total_header
        self.codec = codec
        self.random_secret = random_secret
        self._warned = False

    @classmethod
    def from_settings(cls, settings: PaginationSettings) -> PaginationConfig:
        secret = settings.cursor_secret
        return cls(
            limits=Limits(
                default_limit=settings.default_limit,
                max_limit=settings.max_limit,
                max_offset=settings.max_offset,
                total=settings.total,
            ),
            total_header=settings.total_header,
            codec=process_codec() if secret is None else CursorCodec(secret.get_secret_value()),
            random_secret=secret is None,
        )

    def uses_cursors(self, where: str) -> None:
        """Warn once when cursors are signed with the per-process random key."""
        if self.random_secret and not self._warned:
            self._warned = True
            logger.warning(
                "pagination: %s, but CHASSIS_PAGINATION__CURSOR_SECRET is not set: cursors are "
                "signed with a random key made by this process, so other processes (workers, "
                "replicas) and this one after a restart refuse them. Set the same secret "
                "(16+ characters) on every replica.",
                where,
            )


@lru_cache(maxsize=1)
def default_config() -> PaginationConfig:
    """Used where the plugin is not set up on the App (or outside a request)."""
    return PaginationConfig.from_settings(PaginationSettings())


def config_of(app: Any) -> PaginationConfig:
    """The app's configuration (the plugin's per-app state), or the defaults."""
    find = getattr(app, "plugin_context", None)
    context = find(__name__) if find is not None else None
    config = context.state if context is not None else None
    return config if isinstance(config, PaginationConfig) else default_config()
