"""The state of a remote store that can fail (Redis, a database...): pure bookkeeping.

After a failed call the store is skipped for ``retry_interval`` seconds (requests get their
fallback at once instead of each waiting for a time-out), then the next call tries again: a
plugin recovers by itself. A warning is logged at most once per ``warn_interval``, and once
more when the store answers again. ``reachable`` and ``last_error`` feed health details.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ._redact import redact_credentials


class Outage:
    """Failures of one remote store, and whether to skip it for now.

    ``label`` starts every log line (``"rate limits"``), ``target`` names the store
    (``"Redis at redis://host:6379/0"``, credentials are redacted), ``while_down`` says what
    the plugin does meanwhile (``"serving without the cache"``), ``on_error`` is called on
    each failure (a metric).
    """

    def __init__(
        self,
        label: str,
        target: str,
        *,
        logger: logging.Logger,
        retry_interval: float,
        warn_interval: float,
        while_down: str = "",
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self.label = label
        self.target = redact_credentials(target)
        self.logger = logger
        self.retry_interval = retry_interval
        self.warn_interval = warn_interval
        self.while_down = while_down
        self.on_error = on_error
        self.reachable: bool | None = None
        """``None`` until the first call, then whether the last one succeeded."""
        self.last_error: str | None = None
        self.errors = 0
        """Failed calls since start-up."""
        self._down_until = 0.0
        self._last_warning: float | None = None

    @property
    def active(self) -> bool:
        """Whether the store is skipped for now (within ``retry_interval`` of a failure)."""
        return self._down_until > time.monotonic()

    def failed(self, error: BaseException) -> str:
        """Record a failed call: opens the window, warns (throttled). Returns the error's
        description (also ``last_error``)."""
        now = time.monotonic()
        self.reachable = False
        self.errors += 1
        text = redact_credentials(str(error))
        self.last_error = f"{type(error).__name__}: {text}" if text else type(error).__name__
        self._down_until = now + self.retry_interval
        if self.on_error is not None:
            self.on_error()
        if self._last_warning is None or now - self._last_warning >= self.warn_interval:
            self._last_warning = now
            self.logger.warning(
                "%s: %s failed (%s); %snext try in %g s (this warning repeats at most every %g s)",
                self.label,
                self.target,
                self.last_error,
                f"{self.while_down}, " if self.while_down else "",
                self.retry_interval,
                self.warn_interval,
            )
        return self.last_error

    def succeeded(self) -> None:
        """Record a call that succeeded: closes the window (and says so after a failure)."""
        if self.reachable is False:
            self.logger.warning("%s: %s is reachable again", self.label, self.target)
        self.reachable = True
        self._down_until = 0.0

    def detail(self) -> dict[str, Any]:
        """For a health check's details: ``reachable``, and ``degraded`` and ``error`` while
        it is not."""
        detail: dict[str, Any] = {"reachable": bool(self.reachable)}
        if not self.reachable:
            detail["degraded"] = True
            detail["error"] = self.last_error
        return detail
