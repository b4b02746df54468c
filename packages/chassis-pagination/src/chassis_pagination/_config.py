"""What the plugin keeps per App, and where ``paginate`` finds it during a request."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ._cursor import CursorCodec, process_codec
from ._params import Limits
from ._settings import PaginationSettings

EXTRAS_KEY = "pagination"
"""``app.extras["pagination"]``: the App's :class:`PaginationConfig`."""

STATE_LIMITS = "chassis_pagination.limits"
"""``current_context.state`` key: the operation's :class:`Limits` (set by the middleware)."""

STATE_PAGE = "chassis_pagination.page"
"""``current_context.state`` key: the last page made by ``paginate`` (read by wrap_response)."""


@dataclass(frozen=True)
class PaginationConfig:
    limits: Limits
    total_header: str
    codec: CursorCodec

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
        )


@lru_cache(maxsize=1)
def default_config() -> PaginationConfig:
    """Used where the plugin is not set up on the App (or outside a request)."""
    return PaginationConfig.from_settings(PaginationSettings())


def config_of(app: Any) -> PaginationConfig:
    extras = getattr(app, "extras", None)
    config = extras.get(EXTRAS_KEY) if isinstance(extras, dict) else None
    return config if isinstance(config, PaginationConfig) else default_config()
