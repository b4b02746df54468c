"""A circuit breaker per downstream service, shared by its sync and async clients.

A small state machine rather than a library: pybreaker holds its lock for the whole guarded
call (calls through one breaker run one at a time) and supports async code only through
Tornado; aiobreaker (last release 2021) is async-only; circuitbreaker guards one decorated
function, with a process-wide registry. Here one breaker serves threads (sync views) and the
event loop (async views) at once, its lock is held only to change state, never across I/O,
and its state is read by the readiness probe and the metrics gauge.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

CLOSED = "closed"
HALF_OPEN = "half_open"
OPEN = "open"

STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}
"""The breaker-state gauge's values."""


class CircuitBreaker:
    """``failure_threshold`` failures in a row open the breaker; ``reset_timeout`` seconds
    later ``half_open_calls`` trial calls go through; their success closes it, a failure opens
    it again."""

    def __init__(
        self,
        failure_threshold: int,
        reset_timeout: float,
        half_open_calls: int = 1,
        *,
        on_change: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.half_open_calls = half_open_calls
        self._on_change = on_change
        self._clock = clock
        self._lock = threading.Lock()
        self.state = CLOSED
        self.failures = 0
        self._opened_at = 0.0
        self._trials = 0
        self.opened_count = 0

    def admit(self) -> bool | None:
        """Whether a call may go: ``False`` for a normal call, ``True`` for a trial call of
        the half-open state (report it with ``record(..., trial=True)``), ``None``: refused."""
        if self.state is CLOSED:  # the hot path takes no lock
            return False
        with self._lock:
            if self.state is OPEN:
                if self._clock() - self._opened_at < self.reset_timeout:
                    return None
                self._set(HALF_OPEN)
                self._trials = 0
            if self.state is HALF_OPEN:
                if self._trials >= self.half_open_calls:
                    return None
                self._trials += 1
                return True
            return False

    def record(self, ok: bool, *, trial: bool) -> None:
        """The outcome of an admitted call."""
        if ok and not trial:
            if self.failures:
                self.failures = 0
            return
        with self._lock:
            if trial and self.state is HALF_OPEN:
                if ok:
                    self.failures = 0
                    self._set(CLOSED)
                else:
                    self._open()
                return
            if ok:
                self.failures = 0
            elif self.state is CLOSED:
                self.failures += 1
                if self.failures >= self.failure_threshold:
                    self._open()

    def release(self, *, trial: bool) -> None:
        """An admitted call ended with no verdict (cancelled): give its trial slot back."""
        if trial:
            with self._lock:
                if self.state is HALF_OPEN and self._trials > 0:
                    self._trials -= 1

    def retry_after(self) -> float:
        """Seconds until trial calls are let through (0 unless open)."""
        if self.state is not OPEN:
            return 0.0
        return max(0.0, self.reset_timeout - (self._clock() - self._opened_at))

    def _open(self) -> None:
        self._opened_at = self._clock()
        self.opened_count += 1
        self._set(OPEN)

    def _set(self, state: str) -> None:
        if state is self.state:
            return
        self.state = state
        if self._on_change is not None:
            self._on_change(state)


class RetryBudget:
    """A token bucket of retries: every call earns ``ratio`` of a retry, every retry spends
    one, and at most ``reserve`` (at least one) are saved. When a downstream fails for every
    call, retries stop at about ``ratio`` of the calls instead of multiplying its load."""

    def __init__(self, ratio: float, reserve: float) -> None:
        self.ratio = ratio
        self.capacity = max(1.0, reserve) if ratio > 0 or reserve > 0 else 0.0
        self.balance = reserve
        self._lock = threading.Lock()

    def deposit(self) -> None:
        if self.ratio and self.balance < self.capacity:
            with self._lock:
                self.balance = min(self.capacity, self.balance + self.ratio)

    def withdraw(self) -> bool:
        with self._lock:
            if self.balance >= 1.0:
                self.balance -= 1.0
                return True
            return False
