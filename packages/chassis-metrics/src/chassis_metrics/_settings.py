"""The ``[metrics]`` settings section (``CHASSIS_METRICS__*``)."""

from __future__ import annotations

import itertools
import re
from typing import Annotated

import chassis
from pydantic import AfterValidator, BeforeValidator, Field, field_validator
from pydantic_settings import NoDecode

from ._link_settings import LinkSettings

# prometheus_client's default buckets: 5 ms to 10 s.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def _check_buckets(value: list[float]) -> list[float]:
    finite = [bound for bound in value if bound != float("inf")]
    if not finite:
        raise ValueError("give at least one finite upper bound, in seconds")
    if any(bound <= 0 for bound in finite):
        raise ValueError("bucket bounds are seconds and must be positive")
    if any(b <= a for a, b in itertools.pairwise(finite)):
        raise ValueError("bucket bounds must be strictly increasing")
    return finite


Buckets = Annotated[
    list[float], NoDecode, BeforeValidator(chassis.split_list), AfterValidator(_check_buckets)
]


class MetricsSettings(chassis.PluginSettings, LinkSettings):
    """Settings of the metrics plugin, under ``settings.metrics`` / ``CHASSIS_METRICS__*``."""

    path: str = Field(
        "/metrics",
        pattern=r"^/\S*$",
        description="Path of the Prometheus endpoint; never counted in the request metrics.",
    )
    port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Serve the metrics on this separate port (and not on the service's own "
        "port); unset: on the service's port at `path`.",
    )
    host: str = Field("0.0.0.0", description="Address the separate metrics port listens on.")
    namespace: str = Field(
        "",
        description="Prefix of the request metrics' names (`<namespace>_http_requests_total`).",
    )
    buckets: Buckets = Field(
        default_factory=lambda: list(DEFAULT_BUCKETS),
        description="Upper bounds, in seconds, of the request-duration histogram's buckets.",
    )
    exclude_health: bool = Field(
        True, description="Do not count the liveness and readiness probes."
    )
    exclude_paths: chassis.PathPatternList = Field(
        default_factory=list,
        description="Paths not counted: exact paths or glob patterns (`/ui/*`), chassis's "
        "path-pattern syntax.",
    )
    process_metrics: bool = Field(
        True,
        description="Also export the process_*, python_gc_* and python_info metrics "
        "(single-process mode only).",
    )

    @field_validator("namespace")
    @classmethod
    def _check_namespace(cls, value: str) -> str:
        if value and not _METRIC_NAME.match(value):
            raise ValueError(
                "must be a valid Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)"
            )
        return value
