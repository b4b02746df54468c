"""Metrics of any plugin on the registry the metrics plugin exposes, without depending on it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger("chassis.plugins")

_T = TypeVar("_T")


def register_metrics(app: Any, build: Callable[[Any], _T]) -> _T | None:
    """``build(registry)`` on the ``prometheus_client`` registry that ``app`` exposes at
    ``/metrics``, or ``None`` when no plugin provides one (the metrics plugin is off).

    A plugin calls it in ``configure_app`` and keeps what ``build`` returns (its counters);
    ``prometheus_client`` is imported only inside ``build``, so a plugin works, and imports
    nothing of Prometheus, without the metrics plugin. A failure (a metric name taken
    twice) is logged and gives ``None``: metrics never stop a service from starting.

    Example::

        def counters(registry):
            from prometheus_client import Counter
            return Counter("myplugin_hits_total", "Hits.", registry=registry)

        plugin.state.hits = chassis.register_metrics(app, counters)
    """
    registry = app.plugin_manager.hook.metrics_registry(app=app)
    if registry is None:
        return None
    try:
        return build(registry)
    except Exception as error:
        logger.warning("metrics not registered (%s): %s: %s", build, type(error).__name__, error)
        return None
