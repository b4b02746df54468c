"""Multiprocess mode: where ``PROMETHEUS_MULTIPROC_DIR`` points (imports nothing heavy).

One rule everywhere: the variable set to an empty (or blank) value counts as unset. That is
how a deployment switches multiprocess mode off for one container while a shared ConfigMap
sets it (``deploy/k8s``: ``PROMETHEUS_MULTIPROC_DIR: ""``). ``prometheus_client`` tells the
variable's *presence*, not its value: set but empty, it keeps every figure in a ``.db`` file
named relative to the working directory. So :func:`forget_empty` takes empty values out of the
environment, when ``chassis_metrics`` is imported, before it imports ``prometheus_client``.
"""

from __future__ import annotations

import os

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_NAMES = (MULTIPROC_VARIABLE, MULTIPROC_VARIABLE.lower())  # the lower-case one is deprecated


def multiprocess_dir() -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR`` (or its deprecated lower-case name), or ``None`` when
    neither is set to a non-blank value."""
    for name in _NAMES:
        value = os.environ.get(name)
        if value is not None and value.strip():
            return value
    return None


def forget_empty() -> list[str]:
    """Remove the variable (either name) from ``os.environ`` where it is set but blank, so
    ``prometheus_client``, imported later in this process or in its children, keeps its
    figures in memory as when it is unset; the names removed."""
    removed = []
    for name in _NAMES:
        value = os.environ.get(name)
        if value is not None and not value.strip():
            del os.environ[name]
            removed.append(name)
    return removed
