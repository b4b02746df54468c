"""Logs in traces: records emitted while a span is recording become events of that span."""

from __future__ import annotations

import logging

from chassis import get_context
from opentelemetry import trace

from ._middleware import STATE_KEY, RequestTrace, qualified_name

EVENT_NAME = "log"

MARKER = "chassis_tracing"
"""Attribute that marks the handler this plugin installed on the root logger."""


class SpanEventHandler(logging.Handler):
    """A logging handler that adds each record to the current span as an event.

    Records without a recording span (outside requests, unsampled requests) are ignored.
    A record of ``ERROR`` or above that carries an exception records that exception on the
    span (an ``exception`` event with ``exception.type``, ``exception.message`` and
    ``exception.stacktrace``); other records become ``log`` events with the attributes
    ``log.severity``, ``log.logger`` and ``log.message``.

    The plugin installs one on the root logger with the ``log_level`` setting; records must
    also pass their logger's level (the root logger's is ``CHASSIS_LOG_LEVEL``).
    """

    def handle(self, record: logging.LogRecord) -> bool:
        # No lock: adding an event to a span is thread-safe, and the handler has no state.
        span = trace.get_current_span()
        if not span.is_recording():
            return False
        if self.filters and not self.filter(record):
            return False
        self.emit_to(span, record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        span = trace.get_current_span()
        if span.is_recording():
            self.emit_to(span, record)

    def emit_to(self, span: trace.Span, record: logging.LogRecord) -> None:
        try:
            attributes = {
                "log.severity": record.levelname,
                "log.logger": record.name,
                "log.message": record.getMessage(),
            }
            exc = record.exc_info[1] if record.exc_info else None
            if exc is not None and record.levelno >= logging.ERROR:
                request_trace = _request_trace()
                if request_trace is not None and request_trace.span is span:
                    if exc is request_trace.exception:
                        # Already recorded (by the Flask signal): just the log line.
                        span.add_event(EVENT_NAME, attributes)
                        return
                    request_trace.exception = exc
                    if request_trace.error_type is None:
                        request_trace.error_type = qualified_name(exc)
                span.record_exception(exc, attributes=attributes)
            else:
                span.add_event(EVENT_NAME, attributes)
        except Exception:
            self.handleError(record)


def _request_trace() -> RequestTrace | None:
    context = get_context()
    if context is None:
        return None
    found = context.state.get(STATE_KEY)
    return found if isinstance(found, RequestTrace) else None


def install(level: str) -> SpanEventHandler | None:
    """Put one :class:`SpanEventHandler` on the root logger (replacing the one a previous
    App installed); ``OFF`` removes it."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, MARKER, False):
            root.removeHandler(handler)
    if level == "OFF":
        return None
    handler = SpanEventHandler(logging.getLevelName(level))
    setattr(handler, MARKER, True)
    root.addHandler(handler)
    return handler
