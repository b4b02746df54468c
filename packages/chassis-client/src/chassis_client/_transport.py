"""What every call to a service goes through: an httpx transport around the network one.

Per call: the request id and trace context of the request being served, and the call's
deadline (the service's total timeout, narrowed by the incoming request's budget). Per
attempt: the deadline header and timeouts cut to the time left, the circuit breaker, metrics.
A first attempt that fails in a way worth another try is handed to tenacity, which retries
with exponential back-off and full jitter while the attempts, the deadline, the breaker and
the service's retry budget allow. A call that succeeds at once never builds a retry object,
so the common case costs only the bookkeeping above.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx
from chassis import get_context, outgoing_headers

from ._deadline import _deadline
from ._errors import SERVICE_EXTENSION, DeadlineExceeded, ServiceUnavailable
from ._metrics import ClientMetrics, method_label
from ._settings import IDEMPOTENT_METHODS, ServiceSettings

if TYPE_CHECKING:
    from tenacity import RetryCallState

    from ._breaker import CircuitBreaker, RetryBudget

logger = logging.getLogger("chassis_client")

# Failures that happen before any byte of the request reached the service: another attempt
# cannot do a write twice, whatever the method.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
NO_RETRY = (ServiceUnavailable, DeadlineExceeded)


class Policy:
    """One service's propagation and resilience, shared by its sync and async transports."""

    def __init__(
        self,
        name: str,
        settings: ServiceSettings,
        *,
        breaker: CircuitBreaker | None,
        budget: RetryBudget,
        metrics: ClientMetrics,
        deadline_header: str | None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.breaker = breaker
        self.budget = budget
        self.metrics = metrics
        self.deadline_header = deadline_header
        self.total = settings.timeout.total
        self.attempts = settings.retry.attempts
        self.retry_statuses = frozenset(settings.retry.statuses)
        self.failure_statuses = frozenset(settings.breaker.failure_statuses)

    # -- per call ---------------------------------------------------------------------------

    def prepare(self, request: httpx.Request) -> float:
        """Propagation headers; returns the call's deadline (``time.monotonic()``)."""
        if get_context() is not None:
            headers = request.headers
            for name, value in outgoing_headers().items():
                if name not in headers:  # what the caller set wins
                    headers[name] = value
        request.extensions[SERVICE_EXTENSION] = self.name
        end = time.monotonic() + self.total
        budget = _deadline.get()
        if budget is not None and budget < end:
            end = budget
        self.budget.deposit()
        return end

    # -- per attempt ------------------------------------------------------------------------

    def before(self, request: httpx.Request, end: float) -> bool | None:
        """Check the time left and the breaker; cut timeouts; returns whether the attempt is
        a trial call of a half-open breaker."""
        left = end - time.monotonic()
        if left <= 0:
            self.metrics.refused(self.name, "deadline")
            raise DeadlineExceeded(self.name, request=request)
        timeouts = request.extensions.get("timeout")
        if timeouts:
            for value in timeouts.values():  # a loop: a third of any()'s cost, on every call
                if value is None or value > left:
                    cut = {k: left if v is None else min(v, left) for k, v in timeouts.items()}
                    request.extensions = {**request.extensions, "timeout": cut}
                    break
        if self.deadline_header is not None:
            request.headers[self.deadline_header] = str(max(1, int(left * 1000)))
        if self.breaker is None:
            return False
        trial = self.breaker.admit()
        if trial is None:
            self.metrics.refused(self.name, "breaker")
            raise ServiceUnavailable(self.name, self.breaker.retry_after(), request=request)
        return trial

    def answered(
        self, request: httpx.Request, response: httpx.Response, trial: bool, started: float
    ) -> None:
        status = response.status_code
        if self.breaker is not None:
            self.breaker.record(status not in self.failure_statuses, trial=trial)
        if self.metrics.active:
            seconds = time.perf_counter() - started
            self.metrics.response(self.name, method_label(request.method), status, seconds)

    def failed(
        self, request: httpx.Request, error: BaseException, trial: bool, started: float
    ) -> None:
        if self.breaker is not None:
            if isinstance(error, httpx.TransportError):
                self.breaker.record(False, trial=trial)
            else:  # cancelled, or a bug: no verdict on the service
                self.breaker.release(trial=trial)
        if isinstance(error, httpx.TransportError) and self.metrics.active:
            seconds = time.perf_counter() - started
            self.metrics.error(self.name, method_label(request.method), error, seconds)

    # -- retries ----------------------------------------------------------------------------

    def replayable(self, request: httpx.Request) -> bool:
        """Another attempt can send the same body (not a one-off stream)."""
        return self.attempts > 1 and isinstance(request.stream, httpx.ByteStream)

    def idempotent(self, request: httpx.Request) -> bool:
        return request.method in IDEMPOTENT_METHODS or "idempotency-key" in request.headers

    def retry_error(self, request: httpx.Request, error: BaseException) -> bool:
        if isinstance(error, NO_RETRY) or not isinstance(error, httpx.TransportError):
            return False
        if not self.replayable(request):
            return False
        return isinstance(error, NOT_SENT) or self.idempotent(request)

    def retry_response(self, request: httpx.Request, response: httpx.Response) -> bool:
        return (
            response.status_code in self.retry_statuses
            and self.replayable(request)
            and self.idempotent(request)
        )

    def retrying(self, request: httpx.Request, end: float, asynchronous: bool) -> Any:
        """A tenacity retrier for this one call (its stop and wait see the call's deadline)."""
        import tenacity

        retry = self.settings.retry
        backoff = tenacity.wait_random_exponential(
            multiplier=retry.backoff_initial, max=retry.backoff_max
        )

        def wait(state: RetryCallState) -> float:
            seconds: float = backoff(state)
            if retry.respect_retry_after and state.outcome is not None and not state.outcome.failed:
                asked = retry_after(state.outcome.result())
                if asked is not None:
                    seconds = min(max(seconds, asked), retry.backoff_max)
            return seconds

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= self.attempts:
                return True
            if time.monotonic() + state.upcoming_sleep >= end:
                return True  # the next attempt would start with no time left
            if self.breaker is not None and self.breaker.retry_after() > state.upcoming_sleep:
                return True  # the breaker opened: the next attempt would be refused
            return not self.budget.withdraw()

        def before_sleep(state: RetryCallState) -> None:
            self.metrics.retry(self.name, method_label(request.method))
            outcome = state.outcome
            cause: Any = outcome.exception() if outcome is not None and outcome.failed else None
            if cause is None and outcome is not None:
                cause = outcome.result().status_code
            logger.info(
                "retrying %s %s (service %r) after %s in %.3f s, attempt %d of %d",
                request.method,
                request.url.path,
                self.name,
                type(cause).__name__ if isinstance(cause, BaseException) else cause,
                state.upcoming_sleep,
                state.attempt_number + 1,
                self.attempts,
            )

        def should_retry(state: RetryCallState) -> bool:
            outcome = state.outcome
            if outcome is None:
                return False
            if outcome.failed:
                error = outcome.exception()
                return error is not None and self.retry_error(request, error)
            return self.retry_response(request, outcome.result())

        def last_outcome(state: RetryCallState) -> Any:
            assert state.outcome is not None
            return state.outcome.result()  # the last response, or the last error raised

        cls = tenacity.AsyncRetrying if asynchronous else tenacity.Retrying
        return cls(
            retry=should_retry,
            stop=stop,
            wait=wait,
            before_sleep=before_sleep,
            retry_error_callback=last_outcome,
        )


def retry_after(response: httpx.Response) -> float | None:
    """Seconds a 429 or 503 asks to wait (``Retry-After``: seconds or an HTTP date, RFC 9110
    10.2.3), else ``None``."""
    if response.status_code not in (429, 503):
        return None
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        return None
    return max(0.0, when.timestamp() - time.time())


class ServiceTransport(httpx.BaseTransport):
    """The sync client's transport: the policy around the network transport."""

    def __init__(self, inner: httpx.BaseTransport, policy: Policy) -> None:
        self.inner = inner
        self.policy = policy

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        policy = self.policy
        end = policy.prepare(request)
        try:
            response = self._attempt(request, end)
        except Exception as error:
            if not policy.retry_error(request, error):
                raise
            first: Any = error
        else:
            if not policy.retry_response(request, response):
                return response
            first = response
        replay = _Replay(first)

        def again(request: httpx.Request, end: float) -> httpx.Response:
            replay.discard()
            response = replay.take() or self._attempt(request, end)
            replay.previous = response
            return response

        result: httpx.Response = policy.retrying(request, end, asynchronous=False)(
            again, request, end
        )
        return result

    def _attempt(self, request: httpx.Request, end: float) -> httpx.Response:
        policy = self.policy
        trial = bool(policy.before(request, end))
        started = time.perf_counter()
        try:
            response = self.inner.handle_request(request)
        except BaseException as error:
            policy.failed(request, error, trial, started)
            raise
        policy.answered(request, response, trial, started)
        return response

    def close(self) -> None:
        self.inner.close()


class AsyncServiceTransport(httpx.AsyncBaseTransport):
    """The async client's transport: the policy around the network transport."""

    def __init__(self, inner: httpx.AsyncBaseTransport, policy: Policy) -> None:
        self.inner = inner
        self.policy = policy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        policy = self.policy
        end = policy.prepare(request)
        try:
            response = await self._attempt(request, end)
        except Exception as error:
            if not policy.retry_error(request, error):
                raise
            first: Any = error
        else:
            if not policy.retry_response(request, response):
                return response
            first = response
        replay = _Replay(first)

        async def again(request: httpx.Request, end: float) -> httpx.Response:
            await replay.adiscard()
            response = replay.take() or await self._attempt(request, end)
            replay.previous = response
            return response

        retrying: Callable[..., Awaitable[httpx.Response]] = policy.retrying(
            request, end, asynchronous=True
        )
        return await retrying(again, request, end)

    async def _attempt(self, request: httpx.Request, end: float) -> httpx.Response:
        policy = self.policy
        trial = bool(policy.before(request, end))
        started = time.perf_counter()
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException as error:
            policy.failed(request, error, trial, started)
            raise
        policy.answered(request, response, trial, started)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class _Replay:
    """The first attempt, already made, as tenacity's first outcome: tenacity then decides
    about the second attempt exactly as about any other."""

    __slots__ = ("first", "previous")

    def __init__(self, first: Any) -> None:
        self.first: Any = first
        self.previous: Any = None

    def take(self) -> httpx.Response | None:
        first, self.first = self.first, None
        if first is None:
            return None
        if isinstance(first, BaseException):
            raise first
        return first  # type: ignore[no-any-return]

    def discard(self) -> None:
        """Close the response a retry replaces (its connection goes back to the pool)."""
        previous, self.previous = self.previous, None
        if isinstance(previous, httpx.Response):
            previous.close()

    async def adiscard(self) -> None:
        previous, self.previous = self.previous, None
        if isinstance(previous, httpx.Response):
            await previous.aclose()
