"""Runtime log levels: list loggers and change one's level without a restart.

Levels live in the ``logging`` module of one process: a change applies to the worker that
answered the request, not to the other workers of a ``--workers``/gunicorn server, and it
lasts until that process exits (see docs/operations.md for several workers).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET")
ROOT = "root"
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,200}")


class LoggerError(ValueError):
    """A request the loggers endpoint refuses: ``status`` and a client-facing detail."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def describe(logger: logging.Logger) -> dict[str, Any]:
    """A logger's own level (``None`` when it inherits) and the level it actually uses."""
    configured = logging.getLevelName(logger.level) if logger.level else None
    return {
        "configured_level": configured,
        "effective_level": logging.getLevelName(logger.getEffectiveLevel()),
    }


def every_logger() -> dict[str, Any]:
    """The root logger, then every logger created so far, by name."""
    found = {ROOT: describe(logging.getLogger())}
    existing = logging.Logger.manager.loggerDict
    for name in sorted(existing):
        logger = existing[name]
        if isinstance(logger, logging.Logger):
            found[name] = describe(logger)
    return {"levels": list(LEVELS), "pid": os.getpid(), "loggers": found}


def one_logger(name: str) -> dict[str, Any]:
    """``name``'s levels; a logger nothing has created is a 404."""
    logger = _existing(name)
    if logger is None:
        raise LoggerError(404, f"No logger named {name!r} in this process.")
    return {"name": name, "pid": os.getpid(), **describe(logger)}


def set_level(name: str, body: Any, default_root_level: str) -> dict[str, Any]:
    """Apply ``{"level": "DEBUG"}`` to logger ``name``; ``{"level": null}`` resets it (the
    root logger to ``CHASSIS_LOG_LEVEL``, any other to inheriting its parent's)."""
    if not _NAME.fullmatch(name):
        raise LoggerError(400, "A logger name is 1 to 200 letters, digits, '.', '_' or '-'.")
    if not isinstance(body, dict) or set(body) != {"level"}:
        raise LoggerError(400, 'The body must be a JSON object {"level": "DEBUG"} (or null).')
    level = body["level"]
    if level is not None and (not isinstance(level, str) or level.upper() not in LEVELS):
        raise LoggerError(400, f"level must be one of {', '.join(LEVELS)} or null.")
    logger = logging.getLogger() if name == ROOT else logging.getLogger(name)
    if level is None:
        level = default_root_level if name == ROOT else "NOTSET"
    before = describe(logger)["configured_level"]
    logger.setLevel(level.upper())
    logging.getLogger("chassis.loggers").warning(
        "log level of %r changed from %s to %s (this process only)",
        name,
        before or "inherited",
        level.upper(),
    )
    return {"name": name, "pid": os.getpid(), **describe(logger)}


def _existing(name: str) -> logging.Logger | None:
    if name == ROOT:
        return logging.getLogger()
    found = logging.Logger.manager.loggerDict.get(name)
    return found if isinstance(found, logging.Logger) else None
