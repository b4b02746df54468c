"""Multiprocess mode: where ``PROMETHEUS_MULTIPROC_DIR`` points (imports nothing heavy)."""

from __future__ import annotations

import os

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR`` (or its deprecated lower-case name), or ``None``."""
    return os.environ.get(MULTIPROC_VARIABLE) or os.environ.get(MULTIPROC_VARIABLE.lower())
