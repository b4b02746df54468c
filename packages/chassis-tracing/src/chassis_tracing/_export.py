"""Span export with the SDK: a batch processor started in each process, and drop accounting.

Imported only when the SDK is installed and the plugin builds the tracer provider itself.

* :class:`ProcessLocalBatchProcessor` creates the SDK's ``BatchSpanProcessor`` (and its
  exporter, with its HTTP connection pool) on the first span a process ends, and forgets it in
  a forked child, so a worker forked by gunicorn (``--preload``) starts its own thread and
  connections instead of inheriting a dead thread and shared sockets.
* :class:`CountingExporter` counts exported and failed spans, keeps the last error and turns
  the exporter's per-batch log lines into one rate-limited warning.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

logger = logging.getLogger("chassis.tracing")

WARNING_INTERVAL = 60.0
"""Seconds between two warnings about dropped spans."""

SHUTDOWN_WHEN_FAILING = 1.0
"""Seconds the exit flush may take while the collector is failing."""

# Loggers through which the SDK's exporters report failed exports, batch by batch and retry by
# retry. While one of our exports runs, their records are captured (the last one becomes the
# reported error) instead of printed; the rate-limited warning reports them.
EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "opentelemetry.exporter.otlp.proto.common._internal",
    "opentelemetry.exporter.otlp.proto.common._internal.trace_encoder",
)


class _Capture(threading.local):
    active = False
    messages: list[str]

    def __init__(self) -> None:
        self.messages = []

    def message(self) -> str | None:
        """What the exporter said, each line once ("transient error X; gave up")."""
        return "; ".join(dict.fromkeys(self.messages)) or None


_capture = _Capture()


class _CaptureFilter(logging.Filter):
    """Swallows exporter log records emitted inside :meth:`CountingExporter.export`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _capture.active:
            return True
        if record.levelno >= logging.WARNING:
            try:
                message = record.getMessage()
            except Exception:  # a broken log call must not break export
                message = str(record.msg)
            _capture.messages.append(re.sub(r"retrying in [0-9.]+s", "retrying", message))
        return False


_CAPTURE_FILTER = _CaptureFilter()


def install_capture_filter() -> None:
    """Attach the capture filter to the exporters' loggers (once per process)."""
    for name in EXPORTER_LOGGERS:
        exporter_logger = logging.getLogger(name)
        if _CAPTURE_FILTER not in exporter_logger.filters:
            exporter_logger.addFilter(_CAPTURE_FILTER)


class HashOnceResource(Resource):
    """A resource that hashes once: the OTLP encoder groups every exported span by its
    resource, and ``Resource.__hash__`` serializes the attributes to JSON each time."""

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource.attributes, resource.schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return super().__eq__(other)


class ExportStats:
    """Counters of one app's span export in the current process (reset after a fork)."""

    def __init__(self, destination: str) -> None:
        self.destination = destination
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.ended = 0
        """Sampled spans handed to the batch processor."""
        self.exported = 0
        self.failed = 0
        """Spans in batches the exporter could not deliver."""
        self.queue_dropped = 0
        """Spans dropped because the queue was full (estimated, see :meth:`on_span`)."""
        self.handed = 0
        self.export_failures = 0
        self.last_error: str | None = None
        self.last_drop = 0.0
        self.exporting_since = 0.0
        """``time.monotonic()`` when the export in progress started; 0: none."""
        self._unreported = 0
        self._last_warning = 0.0

    @property
    def dropped(self) -> int:
        return self.failed + self.queue_dropped

    def on_span(self, max_queue_size: int) -> None:
        """Count one span entering the queue and whether the queue overflows.

        The SDK's queue drops its oldest span when it is full; it holds ``ended - handed -
        dropped`` spans before this one. An export that has taken a batch off the queue but
        not started yet makes this an over-estimate by at most one batch.
        """
        with self._lock:
            self.ended += 1
            if self.ended - 1 - self.handed - self.queue_dropped >= max_queue_size:
                self.queue_dropped += 1
                self._note_drop(1, "the export queue is full")

    def on_export(self, count: int, ok: bool, error: str | None) -> None:
        with self._lock:
            self.handed += count
            if ok:
                self.exported += count
                return
            self.failed += count
            self.export_failures += 1
            self._note_drop(count, error or "export failed")

    def _note_drop(self, count: int, reason: str) -> None:
        now = time.monotonic()
        self.last_drop = now
        self.last_error = reason
        self._unreported += count
        if self._last_warning and now - self._last_warning < WARNING_INTERVAL:
            return
        since = now - self._last_warning if self._last_warning else None
        self._last_warning = now
        unreported, self._unreported = self._unreported, 0
        logger.warning(
            "tracing: dropped %d span(s)%s exporting to %s: %s (%d dropped in this process so "
            "far; next warning in %d s at the earliest)",
            unreported,
            f" in the last {since:.0f} s" if since is not None else "",
            self.destination,
            reason,
            self.dropped,
            WARNING_INTERVAL,
        )

    def dropping(self, within: float = WARNING_INTERVAL) -> bool:
        """Whether spans were dropped in the last ``within`` seconds."""
        return bool(self.last_drop) and time.monotonic() - self.last_drop < within

    def failing(self, stalled_after: float = 1.0) -> bool:
        """Whether the collector looks unusable: spans dropped lately, or an export that has
        been waiting for more than ``stalled_after`` seconds."""
        since = self.exporting_since
        return self.dropping() or (bool(since) and time.monotonic() - since > stalled_after)


class CountingExporter(SpanExporter):
    """Delegates to ``exporter`` and counts what it delivers and what it drops."""

    def __init__(self, exporter: SpanExporter, stats: ExportStats) -> None:
        self.exporter = exporter
        self.stats = stats

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        _capture.active, _capture.messages = True, []
        self.stats.exporting_since = time.monotonic()
        error: str | None = None
        try:
            result = self.exporter.export(spans)
        except Exception as exc:
            result = SpanExportResult.FAILURE
            error = f"{type(exc).__name__}: {exc}"
        finally:
            _capture.active = False
            self.stats.exporting_since = 0.0
        ok = result is SpanExportResult.SUCCESS
        self.stats.on_export(len(spans), ok, error or _capture.message())
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


class ProcessLocalBatchProcessor(SpanProcessor):
    """A ``BatchSpanProcessor`` per process, created on the first span ended in it.

    :param make_exporter: builds the exporter; called in each process that ends a span.
    :param stats: the counters of this app (reset in a forked child).
    :param batch_options: keyword arguments of ``BatchSpanProcessor``.
    """

    def __init__(
        self,
        make_exporter: Callable[[], SpanExporter],
        stats: ExportStats,
        **batch_options: Any,
    ) -> None:
        self._make_exporter = make_exporter
        self.stats = stats
        self._options = batch_options
        self._max_queue_size: int = batch_options.get("max_queue_size") or 2048
        self._processor: BatchSpanProcessor | None = None
        self._lock = threading.Lock()
        self._shutdown = False
        if hasattr(os, "register_at_fork"):
            reset = weakref.WeakMethod(self._after_fork)

            def after_fork_in_child() -> None:
                method = reset()
                if method is not None:
                    method()

            os.register_at_fork(after_in_child=after_fork_in_child)

    @property
    def started(self) -> bool:
        return self._processor is not None

    def _after_fork(self) -> None:
        # The parent's worker thread does not exist here; its queue belongs to the parent.
        self._processor = None
        self._lock = threading.Lock()
        self.stats.reset()

    def _start(self) -> BatchSpanProcessor | None:
        with self._lock:
            if self._processor is None and not self._shutdown:
                exporter = CountingExporter(self._make_exporter(), self.stats)
                self._processor = BatchSpanProcessor(exporter, **self._options)
                logger.debug(
                    "tracing: span export to %s started in process %d",
                    self.stats.destination,
                    os.getpid(),
                )
            return self._processor

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None or not context.trace_flags.sampled:
            return
        processor = self._processor or self._start()
        if processor is None:
            return
        self.stats.on_span(self._max_queue_size)
        processor.on_end(span)

    def shutdown(self) -> None:
        """Export what is buffered and stop (at exit); give up after a second when the
        collector has been failing, instead of the SDK's 30 s per processor."""
        with self._lock:
            self._shutdown = True
            processor, self._processor = self._processor, None
        if processor is None:
            return
        if not self.stats.failing():
            processor.shutdown()  # type: ignore[no-untyped-call]
            return
        stopping = threading.Thread(
            target=processor.shutdown, name="chassis-tracing-shutdown", daemon=True
        )
        stopping.start()
        stopping.join(SHUTDOWN_WHEN_FAILING)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        processor = self._processor
        if processor is None:
            return True
        return processor.force_flush(timeout_millis)
