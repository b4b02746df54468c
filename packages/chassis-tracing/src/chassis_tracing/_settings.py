"""The ``[tracing]`` settings section (``CHASSIS_TRACING__*``)."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from chassis import HttpEndpoint, PathPatternList, PluginSettings, parse_headers
from pydantic import (
    BeforeValidator,
    Field,
    PositiveFloat,
    SecretStr,
    model_validator,
)

LEVELS = ("NOTSET", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "OFF")


def _level_name(value: Any) -> Any:
    """Accept ``logging`` levels as numbers (``20``) or names in any case (``"warn"``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        name = logging.getLevelName(value)
        return name if name in LEVELS else value
    if isinstance(value, str):
        name = value.strip().upper()
        return {"WARN": "WARNING", "FATAL": "CRITICAL", "NONE": "OFF"}.get(name, name)
    return value


LogLevel = Annotated[
    Literal["NOTSET", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "OFF"],
    BeforeValidator(_level_name),
]


class TracingSettings(PluginSettings):
    """Settings of the tracing plugin, mounted at ``settings.tracing``.

    The exporter settings are used only when the plugin builds the tracer provider itself:
    no provider was passed (``use_tracer=``) or configured globally, and the SDK is installed.
    """

    exporter: Literal["auto", "otlp", "console", "none"] = Field(
        "auto",
        description=(
            "Where spans go: 'otlp', 'console' (stdout), 'none' (spans are made, ids are "
            "propagated and logged, nothing is exported) or 'auto': 'otlp' when an endpoint "
            "is set (here or in OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT), else 'none'."
        ),
    )
    endpoint: HttpEndpoint = Field(
        None,
        description=(
            "OTLP endpoint. http/protobuf: a base URL (http://collector:4318, '/v1/traces' "
            "is appended) or the full traces URL; grpc: http://collector:4317."
        ),
    )
    headers: SecretStr | None = Field(
        None,
        description="Headers sent to the OTLP endpoint: 'key=value,key2=value2' (URL-encoded).",
    )
    protocol: Literal["http/protobuf", "grpc"] = Field(
        "http/protobuf",
        description="OTLP protocol; 'grpc' needs chassis-tracing[grpc].",
    )
    timeout: PositiveFloat = Field(10.0, description="Seconds one OTLP export may take.")
    sampling_ratio: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="Share of new traces recorded (parent-based: a caller's decision wins).",
    )
    log_level: LogLevel = Field(
        "INFO",
        description=(
            "Log records from this level, emitted while a request's span is current, become "
            "span events (connexion-plus's use_logging_level); 'OFF' disables."
        ),
    )
    exclude_paths: PathPatternList = Field(
        default_factory=list,
        description="Paths not traced: exact paths or glob patterns ('/static/*'), "
        "chassis's path-pattern syntax.",
    )
    exclude_probes: bool = Field(
        True,
        description="Leave the health paths and the metrics path untraced.",
    )
    max_queue_size: int = Field(2048, ge=1, description="Spans buffered per process.")
    max_export_batch_size: int = Field(512, ge=1, description="Spans per export.")
    schedule_delay: PositiveFloat = Field(
        5.0, description="Seconds between exports of a partial batch."
    )
    export_logs: bool = Field(
        False,
        description="Also send log records over OTLP, with the trace and span ids of the span "
        "current when they were emitted, to the collector the spans go to (protocol, headers "
        "and timeout as for spans); needs chassis-tracing[sdk] (or [grpc]).",
    )
    logs_level: LogLevel = Field(
        "INFO",
        description="Log records from this level are exported (they must also pass their "
        "logger's level; the root logger's is CHASSIS_LOG_LEVEL).",
    )
    logs_endpoint: HttpEndpoint = Field(
        None,
        description="OTLP endpoint of the log records; unset: the spans' endpoint with "
        "'/v1/logs' (http/protobuf), else OTEL_EXPORTER_OTLP_[LOGS_]ENDPOINT.",
    )

    @model_validator(mode="after")
    def _check_headers(self) -> TracingSettings:
        # A model-level check: pydantic reports the input of a failing field, and this one
        # is a secret (the error then shows the section, which the kernel does not print).
        if self.headers is not None:
            try:
                parse_headers(self.headers.get_secret_value())
            except ValueError as error:
                raise ValueError(f"CHASSIS_TRACING__HEADERS (headers): {error}") from None
        return self
