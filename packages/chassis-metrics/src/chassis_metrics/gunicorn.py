"""Server hooks for gunicorn with several workers (``PROMETHEUS_MULTIPROC_DIR`` set; empty
counts as unset).

Put them in ``gunicorn.conf.py``::

    from chassis_metrics.gunicorn import child_exit, on_starting  # noqa: F401

``on_starting`` empties the multiprocess directory when gunicorn starts, so figures of a
previous run are not added to this one; ``child_exit`` tells prometheus_client that a worker
died, so the in-progress gauge stops counting its requests (its counters and histograms stay:
totals must not go down when a worker is replaced).

They use nothing from gunicorn and can be called from other servers' hooks as well.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ._multiproc import MULTIPROC_VARIABLE, multiprocess_dir

logger = logging.getLogger("chassis.metrics")

__all__ = ["child_exit", "clear_multiprocess_dir", "mark_process_dead", "on_starting"]


def clear_multiprocess_dir(path: str | None = None) -> int:
    """Delete the ``*.db`` files of ``path`` (default ``PROMETHEUS_MULTIPROC_DIR``), creating
    the directory if needed; return how many were removed (0, touching nothing, when neither
    is set or the variable is empty). Call it before any worker starts."""
    path = path or multiprocess_dir()
    if not path:
        return 0
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    removed = 0
    for file in directory.glob("*.db"):
        file.unlink(missing_ok=True)
        removed += 1
    return removed


def mark_process_dead(pid: int, path: str | None = None) -> None:
    """Forget the live gauges of a dead worker (``prometheus_client``'s, when multiprocess)."""
    path = path or multiprocess_dir()
    if not path:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


def on_starting(server: Any) -> None:
    """gunicorn hook: empty ``PROMETHEUS_MULTIPROC_DIR`` before the workers start."""
    removed = clear_multiprocess_dir()
    if removed:
        logger.info(
            "removed %d metric files of a previous run from %s", removed, multiprocess_dir()
        )
    elif multiprocess_dir() is None:
        logger.warning(
            "%s is not set (or empty): each worker reports only its own figures",
            MULTIPROC_VARIABLE,
        )


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook: a worker exited; drop its live gauges."""
    mark_process_dead(int(worker.pid))
