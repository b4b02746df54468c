"""OpenMetrics exemplars: the request's trace on the request-duration histogram.

Each observation of ``http_request_duration_seconds`` made while a *sampled* span is current
carries ``{trace_id, span_id}`` of that span; prometheus_client keeps the latest one per
bucket and shows it to scrapers that negotiate OpenMetrics. Unsampled requests carry none: an
exemplar pointing at a trace the tracing backend never received would be a dead link.

The span comes from the OpenTelemetry API's current context, so any tracer works (the
tracing plugin's server span is current while the metrics layer, inside it, observes).
OpenTelemetry is imported only when exemplars are on and it is installed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ._constants import MetricsError
from ._multiproc import MULTIPROC_VARIABLE
from ._settings import MetricsSettings

logger = logging.getLogger("chassis.metrics")

ExemplarSource = Callable[[], "dict[str, str] | None"]
"""Returns the exemplar labels of the current request, or ``None``."""


def exemplar_source(
    settings: MetricsSettings, multiprocess_dir: str | None
) -> ExemplarSource | None:
    """What the middleware calls per observation, or ``None`` when no exemplars can be kept
    (switched off, multiprocess mode, no OpenTelemetry API). Says why at start-up."""
    if not settings.exemplars:
        return None
    explicit = "exemplars" in settings.model_fields_set
    if multiprocess_dir is not None:
        # prometheus_client's file-backed values drop exemplars (values.MultiProcessValue).
        logger.log(
            logging.WARNING if explicit else logging.INFO,
            "metrics: no exemplars in multiprocess mode (%s is set): prometheus_client does not "
            "keep them across processes, so /metrics shows none; trace ids stay in the log "
            "lines, and one worker per container keeps exemplars",
            MULTIPROC_VARIABLE,
        )
        return None
    try:
        from opentelemetry import trace
    except ImportError:
        if explicit:
            raise MetricsError(
                "CHASSIS_METRICS__EXEMPLARS=true needs the OpenTelemetry API, which the tracing "
                "plugin brings: pip install chassis-tracing"
            ) from None
        logger.debug("metrics: no exemplars, opentelemetry-api is not installed")
        return None

    get_current_span = trace.get_current_span

    def current() -> dict[str, str] | None:
        context = get_current_span().get_span_context()
        # The invalid context (no span) has no flags set, so this also tells "no span".
        if not context.trace_flags & 0x01:  # TraceFlags.SAMPLED, without the property call
            return None
        return {
            "trace_id": format(context.trace_id, "032x"),
            "span_id": format(context.span_id, "016x"),
        }

    logger.info(
        "metrics: exemplars on (trace_id, span_id of sampled requests on "
        "http_request_duration_seconds, OpenMetrics format)"
    )
    return current
