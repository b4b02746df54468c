"""The Prometheus exposition: rendered for ``/metrics``, or served on a port of its own."""

from __future__ import annotations

import gzip
import logging
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from prometheus_client import start_http_server
from prometheus_client.exposition import choose_encoder

if TYPE_CHECKING:
    import threading
    from wsgiref.simple_server import WSGIServer

    from prometheus_client import CollectorRegistry
    from prometheus_client.registry import Collector

logger = logging.getLogger("chassis.metrics")


def render(
    registry: CollectorRegistry, accept: str, accept_encoding: str, query_string: bytes
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The exposition of ``registry`` in the format the scraper accepts (text or OpenMetrics),
    gzipped when it accepts gzip; ``name[]=...`` in the query keeps only those metrics."""
    collector: Collector = registry
    if query_string:
        names = parse_qs(query_string.decode("latin-1")).get("name[]")
        if names:
            collector = registry.restricted_registry(names)
    encoder, content_type = choose_encoder(accept)
    body: bytes = encoder(collector)
    headers = [(b"content-type", content_type.encode())]
    if accept_encoding and _accepts_gzip(accept_encoding):
        body = gzip.compress(body, compresslevel=6)
        headers.append((b"content-encoding", b"gzip"))
        headers.append((b"vary", b"Accept-Encoding"))
    return body, headers


def _accepts_gzip(accept_encoding: str) -> bool:
    """Whether ``Accept-Encoding`` allows gzip: q-values honoured, ``gzip`` before ``*``."""
    found: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        if coding == "x-gzip":
            coding = "gzip"
        if coding not in ("gzip", "*"):
            continue
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        found[coding] = quality
    return found.get("gzip", found.get("*", 0.0)) > 0


class PortServer:
    """prometheus_client's HTTP server on a separate port, in a daemon thread.

    Started by the plugin's ``startup`` hook (or the first request), stopped at ``shutdown``. In
    multiprocess mode every worker tries to bind the port: one wins and serves the figures of
    all of them; the others log that and go on (when the winner dies, the next one to start
    takes the port over).
    """

    def __init__(
        self, registry: CollectorRegistry, host: str, port: int, multiprocess_dir: str | None
    ) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self.multiprocess = multiprocess_dir is not None
        self.tried = False
        self._httpd: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def bound_port(self) -> int | None:
        """The port actually listened on (useful with ``port = 0``), or ``None``."""
        if self._httpd is None:
            return None
        return int(self._httpd.server_address[1])

    def start(self, *, again: bool = False) -> None:
        """Bind and serve, once (``again``: also after an earlier attempt or a stop)."""
        if self._httpd is not None or (self.tried and not again):
            return
        self.tried = True
        try:
            self._httpd, self._thread = start_http_server(
                self.port, addr=self.host, registry=self.registry
            )
        except OSError as error:
            if self.multiprocess:
                logger.info(
                    "metrics port %s:%d not bound by this worker (%s): another worker serves it",
                    self.host,
                    self.port,
                    error.strerror or error,
                )
                return
            raise OSError(
                error.errno,
                f"chassis-metrics cannot listen on {self.host}:{self.port} "
                f"(CHASSIS_METRICS__HOST / CHASSIS_METRICS__PORT): {error.strerror or error}",
            ) from error
        logger.info("metrics served on http://%s:%d/", self.host, self.bound_port)

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
