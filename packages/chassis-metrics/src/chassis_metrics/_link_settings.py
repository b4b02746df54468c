"""Settings that link the metrics to traces: exemplars, and the OTLP push to the collector.

A base of :class:`~chassis_metrics.MetricsSettings` (``CHASSIS_METRICS__EXEMPLARS``,
``CHASSIS_METRICS__OTLP``, ``CHASSIS_METRICS__OTLP_*``); imports nothing heavy.
"""

from __future__ import annotations

from chassis import HttpEndpoint, parse_headers
from pydantic import BaseModel, Field, PositiveFloat, SecretStr, model_validator


class LinkSettings(BaseModel):
    """Exemplars on the request-duration histogram, and the optional OTLP push."""

    exemplars: bool = Field(
        True,
        description="Attach the trace and span ids of the request's sampled span to the "
        "request-duration histogram as OpenMetrics exemplars (shown to scrapers that accept "
        "application/openmetrics-text). Needs a tracer (the tracing plugin); single-process "
        "mode only: with PROMETHEUS_MULTIPROC_DIR set prometheus_client keeps none.",
    )
    otlp: bool = Field(
        False,
        description="Also push the chassis metrics over OTLP/HTTP to the collector the traces "
        "go to; needs chassis-metrics[otlp].",
    )
    otlp_endpoint: HttpEndpoint = Field(
        None,
        description="OTLP/HTTP endpoint of the metrics: a base URL (http://collector:4318, "
        "'/v1/metrics' is appended) or the full URL. Unset: the tracing plugin's endpoint "
        "(CHASSIS_TRACING__ENDPOINT, with its headers), else OTEL_EXPORTER_OTLP_[METRICS_]"
        "ENDPOINT, else http://localhost:4318/v1/metrics.",
    )
    otlp_headers: SecretStr | None = Field(
        None,
        description="Headers sent with each push: 'key=value,key2=value2' (URL-encoded).",
    )
    otlp_interval: PositiveFloat = Field(60.0, description="Seconds between two pushes.")
    otlp_timeout: PositiveFloat = Field(10.0, description="Seconds one push may take.")

    @model_validator(mode="after")
    def _check_headers(self) -> LinkSettings:
        # Model-level: a field error would echo the secret's input.
        if self.otlp_headers is not None:
            try:
                parse_headers(self.otlp_headers.get_secret_value())
            except ValueError as error:
                raise ValueError(f"CHASSIS_METRICS__OTLP_HEADERS (otlp_headers): {error}") from None
        return self
