"""Server-side protection uvicorn lacks: a deadline for receiving a request's headers.

uvicorn's keep-alive timer runs only between requests, so a client that connects and sends
nothing, or sends its headers a byte at a time (slowloris), holds its connection for good.
:class:`HeaderDeadlineProtocol` closes a connection whose request headers have not all
arrived ``header_timeout`` seconds after the connection opened or the request began.

``chassis run`` uses it (``--header-timeout``, 10 s by default). With gunicorn, give uvicorn's
worker the protocol::

    class Worker(uvicorn_worker.UvicornWorker):
        CONFIG_KWARGS = {**uvicorn_worker.UvicornWorker.CONFIG_KWARGS,
                         "http": chassis.server.header_deadline_protocol(10)}
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request's headers."""

    header_timeout: float = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
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
        self._deadline = self.loop.call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def header_deadline_protocol(seconds: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class with its deadline set, for uvicorn's ``http=`` option."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout": seconds})
