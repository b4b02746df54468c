"""Settings that link the metrics to traces: exemplars, and the OTLP push to the collector.

A base of :class:`~chassis_metrics.MetricsSettings` (``CHASSIS_METRICS__EXEMPLARS``,
``CHASSIS_METRICS__OTLP``, ``CHASSIS_METRICS__OTLP_*``); imports nothing heavy.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field, PositiveFloat, SecretStr, field_validator, model_validator


def parse_headers(value: str) -> dict[str, str]:
    """``key=value,key2=value2`` (values URL-encoded), the format of
    ``OTEL_EXPORTER_OTLP_HEADERS``, to a dict; ``ValueError`` without echoing values."""
    headers: dict[str, str] = {}
    for position, item in enumerate(value.split(","), start=1):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        key = key.strip()
        if not sep or not key or any(c.isspace() for c in key):
            raise ValueError(
                f"item {position} is not key=value (expected 'key=value,key2=value2', "
                "values URL-encoded)"
            )
        headers[key.lower()] = unquote(val.strip())
    return headers


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
    otlp_endpoint: str | None = Field(
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

    @field_validator("otlp_endpoint")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value

    @model_validator(mode="after")
    def _check_headers(self) -> LinkSettings:
        # Model-level: a field error would echo the secret's input.
        if self.otlp_headers is not None:
            try:
                parse_headers(self.otlp_headers.get_secret_value())
            except ValueError as error:
                raise ValueError(f"CHASSIS_METRICS__OTLP_HEADERS (otlp_headers): {error}") from None
        return self
