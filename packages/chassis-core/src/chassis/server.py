"""Server-side protection uvicorn lacks: a deadline for receiving a request's headers.

uvicorn's keep-alive timer runs only between requests, so a client that connects and sends
nothing, or sends its headers a byte at a time (slowloris), holds its connection for good.
:class:`HeaderDeadlineProtocol` closes a connection whose request headers have not all
arrived ``header_timeout`` seconds after the connection opened or the request began.

``chassis run`` uses it (``--header-timeout``, 10 s by default) in every mode: it names the
class by import string (``http="chassis.server:HeaderDeadlineProtocol"``) and passes the
deadline in the environment variable :data:`HEADER_TIMEOUT_VARIABLE`, so the worker processes
that ``--workers`` and ``--reload`` start (with ``spawn``, a fresh interpreter) get both.
Under uvicorn's own command: ``UVICORN_HEADER_TIMEOUT=10 uvicorn --http
chassis.server:HeaderDeadlineProtocol service:app``. With gunicorn, whose workers are forked,
a class with its deadline set works too::

    class Worker(uvicorn_worker.UvicornWorker):
        CONFIG_KWARGS = {**uvicorn_worker.UvicornWorker.CONFIG_KWARGS,
                         "http": chassis.server.header_deadline_protocol(10)}
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger(__name__)

#: Seconds :class:`HeaderDeadlineProtocol` waits for request headers when its class sets none
#: (``chassis run`` sets it for its worker processes). It configures the server, not the app,
#: so it is no ``CHASSIS_`` setting (an unknown one of those stops the app's start-up).
HEADER_TIMEOUT_VARIABLE = "UVICORN_HEADER_TIMEOUT"
DEFAULT_HEADER_TIMEOUT = 10.0

#: The import string of :class:`HeaderDeadlineProtocol`, for uvicorn's ``http=`` option.
PROTOCOL_IMPORT_STRING = "chassis.server:HeaderDeadlineProtocol"


def configured_header_timeout() -> float:
    """The deadline :data:`HEADER_TIMEOUT_VARIABLE` sets, else :data:`DEFAULT_HEADER_TIMEOUT`."""
    return _parse_timeout(os.environ.get(HEADER_TIMEOUT_VARIABLE, ""))


@functools.lru_cache(maxsize=8)
def _parse_timeout(value: str) -> float:
    # Read per connection: cached, and a bad value is logged once, not on every connection.
    if not value.strip():
        return DEFAULT_HEADER_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (seconds > 0 and math.isfinite(seconds)):
        logger.warning(
            "%s=%r is not a number of seconds above 0: using %s",
            HEADER_TIMEOUT_VARIABLE,
            value,
            DEFAULT_HEADER_TIMEOUT,
        )
        return DEFAULT_HEADER_TIMEOUT
    return seconds


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request's headers.

    ``header_timeout`` is the deadline in seconds; ``None`` (here) reads it from
    :data:`HEADER_TIMEOUT_VARIABLE` when a connection opens.
    """

    header_timeout: float | None = None
    _timeout: float = DEFAULT_HEADER_TIMEOUT
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        timeout = self.header_timeout
        self._timeout = configured_header_timeout() if timeout is None else timeout
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self._timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def header_deadline_protocol(seconds: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class with its deadline set, for uvicorn's ``http=`` option in servers
    that fork their workers (gunicorn) or run in one process.

    The class is made per call, so it cannot be pickled: uvicorn's own ``--workers`` and
    ``--reload`` (``spawn``) need :data:`PROTOCOL_IMPORT_STRING` and
    :data:`HEADER_TIMEOUT_VARIABLE` instead, as ``chassis run`` does.
    """
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout": seconds})
