"""Log formatting: every line carries the request id (and trace ids when tracing is on)."""

from __future__ import annotations

import datetime
import json
import logging
import sys
from collections.abc import Collection
from typing import Any
from urllib.parse import unquote_plus

from ._context import get_context

TEXT_FORMAT = "%(asctime)s [%(levelname)s][%(request_id)s] %(name)s: %(message)s"

# Loggers that servers configure with handlers of their own: route them through ours.
_SERVER_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "gunicorn.error",
    "gunicorn.access",
)

# Client libraries that log every request they make at INFO: quiet unless asked for.
_CHATTY_LOGGERS = ("httpx", "httpcore")

# Query parameters that carry credentials (OAuth 2.0's, and common API-key names); the apiKey
# schemes of each spec that take their key from the query are added by ``App.add_api``.
_CREDENTIAL_PARAMETERS = (
    "access_token",
    "id_token",
    "refresh_token",
    "client_secret",
    "password",
    "api_key",
    "apikey",
    "token",
)

_RECORD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
    "correlation",
}


class ContextFilter(logging.Filter):
    """Puts ``request_id`` (``-`` outside a request) and the other correlation fields on records."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = get_context()
        if context is None:
            record.request_id = "-"
            record.correlation = {}
        else:
            record.request_id = context.request_id
            record.correlation = context.fields
        return True


class TextFormatter(logging.Formatter):
    """``<datetime> [<LEVEL>][<request id>] <logger>: <message>`` and ``key=value`` for trace ids.

    Line breaks in messages are escaped, so a value taken from a request cannot forge lines.
    """

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = _escape(record.message)
        line = super().formatMessage(record)
        extra = [
            f"{k}={v}" for k, v in getattr(record, "correlation", {}).items() if k != "request_id"
        ]
        return f"{line} {' '.join(extra)}" if extra else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the correlation fields and any ``extra=`` values."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(
                record.created, datetime.timezone.utc
            ).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        entry.update(getattr(record, "correlation", {}))
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def query_credentials() -> tuple[str, ...]:
    """The query parameters every app's access log hides the values of."""
    return _CREDENTIAL_PARAMETERS


class AccessLogRedactor(logging.Filter):
    """Keeps credentials sent in query strings out of servers' access logs: their values
    become ``***`` (``GET /items?api_key=***&limit=5``).

    Servers log a request's access line while its response starts, inside the request's
    context, so the names come from the app serving it (``app.redacted_query_parameters``);
    the filter itself holds nothing.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn's access record: (client, method, path with query, http version, status).
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and "?" in str(args[2]):
            context = get_context()
            app = context.app if context is not None else None
            names = getattr(app, "redacted_query_parameters", None) or _CREDENTIAL_PARAMETERS
            record.args = (*args[:2], redact_query(str(args[2]), names), *args[3:])
        return True


def redact_query(target: str, names: Collection[str]) -> str:
    path, _, query = target.partition("?")
    pairs = []
    for pair in query.split("&"):
        name, equals, _value = pair.partition("=")
        if equals and unquote_plus(name).lower() in names:
            pair = f"{name}=***"
        pairs.append(pair)
    return f"{path}?{'&'.join(pairs)}"


def _escape(message: str) -> str:
    if "\n" in message or "\r" in message:
        return message.replace("\r", "\\r").replace("\n", "\\n")
    return message


def configure_logging(level: str, fmt: str) -> logging.Handler:
    """Install one handler on the root logger (replacing the one a previous App installed)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "chassis", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    handler.chassis = True  # type: ignore[attr-defined]
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    for name in _CHATTY_LOGGERS:
        chatty = logging.getLogger(name)
        if chatty.level == logging.NOTSET:
            chatty.setLevel(max(logging.WARNING, root.level))
    for name in _SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLogRedactor) for f in access.filters):
        access.addFilter(AccessLogRedactor())
    return handler
