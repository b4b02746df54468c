"""Names shared by the plugin's modules (imports nothing heavy)."""

from __future__ import annotations

DETACHED_KEY = "metrics.detached"
"""``app.extras`` key of the PrometheusMetrics handed out while the plugin is not active."""

OTLP_KEY = "metrics.otlp"
"""``app.extras`` key of the app's OTLP pusher (``CHASSIS_METRICS__OTLP=true``)."""

OTLP_KEY = "metrics.otlp"
"""``app.extras`` key of the app's OTLP pusher (``CHASSIS_METRICS__OTLP=true``)."""

UNMATCHED_ROUTE = "<unmatched>"
"""The ``route`` label of requests that matched no operation of the spec (404s, Swagger UI)."""

OTHER_METHOD = "other"
"""The ``method`` label of requests whose method is not a standard HTTP method."""

KNOWN_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")

METHOD_LABELS = {method: method for method in KNOWN_METHODS}


class MetricsError(RuntimeError):
    """The metrics plugin cannot start (bad multiprocess set-up, bad ``use_metric=`` object)."""
