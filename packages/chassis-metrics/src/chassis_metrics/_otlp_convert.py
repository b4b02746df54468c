"""A prometheus_client registry as OpenTelemetry SDK metric data, for the OTLP exporter.

Every family the registry collects (the request metrics, the info gauge, the process metrics
and whatever other plugins registered) becomes an OTLP metric with the same name, help text
and labels (as attributes), cumulative like Prometheus:

* counter: a monotonic Sum (the name without ``_total``, as the collector's Prometheus
  exporter expects; it adds the suffix back);
* gauge, unknown, info (``<name>_info``, value 1), stateset: a Gauge;
* histogram: a Histogram with the same bucket bounds; bucket exemplars become OTLP exemplars
  with their trace and span ids;
* summary and gauge histogram: no OTLP SDK type to carry them; left out (said once).

Start times come from ``_created`` samples when the registry has them, else from when this
process started pushing.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import Exemplar
    from opentelemetry.sdk.resources import Resource
    from prometheus_client.metrics_core import Metric as Family
    from prometheus_client.registry import Collector
    from prometheus_client.samples import Sample

logger = logging.getLogger("chassis.metrics")

CUMULATIVE = AggregationTemporality.CUMULATIVE
_skipped: set[str] = set()

Key = tuple[tuple[str, str], ...]


def to_metrics_data(
    collector: Collector, resource: Resource, scope: InstrumentationScope, started_ns: int
) -> MetricsData:
    """What ``collector`` holds now, as one OTLP export."""
    now = time.time_ns()
    metrics = []
    for family in collector.collect():
        metric = _convert(family, now, started_ns)
        # A family with no series yet (no request raised) has nothing to say.
        if metric is not None and metric.data.data_points:
            metrics.append(metric)
    return MetricsData(
        resource_metrics=[
            ResourceMetrics(
                resource=resource,
                scope_metrics=[ScopeMetrics(scope=scope, metrics=metrics, schema_url="")],
                schema_url="",
            )
        ]
    )


def _convert(family: Family, now: int, started: int) -> Metric | None:
    kind = family.type
    unit = family.unit or ""
    if kind == "counter":
        points = _numbers(family.samples, family.name + "_total", now, started)
        data: Any = Sum(points, CUMULATIVE, is_monotonic=True)
        return Metric(family.name, family.documentation, unit, data)
    if kind in ("gauge", "unknown", "stateset"):
        return Metric(
            family.name,
            family.documentation,
            unit,
            Gauge(_numbers(family.samples, family.name, now, started)),
        )
    if kind == "info":
        name = family.name + "_info"
        return Metric(
            name, family.documentation, unit, Gauge(_numbers(family.samples, name, now, started))
        )
    if kind == "histogram":
        return Metric(
            family.name,
            family.documentation,
            unit,
            Histogram(_histogram_points(family, now, started), CUMULATIVE),
        )
    if family.name not in _skipped:
        _skipped.add(family.name)
        logger.info(
            "metrics: %s is a %s, which OTLP export leaves out (Prometheus still has it)",
            family.name,
            kind,
        )
    return None


def _key(labels: dict[str, str], drop: str | None = None) -> Key:
    return tuple(sorted((k, v) for k, v in labels.items() if k != drop))


def _created(samples: Iterable[Sample], name: str) -> dict[Key, int]:
    created = name + "_created"
    return {_key(s.labels): int(s.value * 1e9) for s in samples if s.name == created}


def _numbers(samples: Sequence[Sample], name: str, now: int, started: int) -> list[NumberDataPoint]:
    created = _created(samples, name.removesuffix("_total"))
    points = []
    for sample in samples:
        if sample.name != name:
            continue
        key = _key(sample.labels)
        points.append(
            NumberDataPoint(
                attributes=dict(key),
                start_time_unix_nano=created.get(key, started),
                time_unix_nano=now,
                value=sample.value,
            )
        )
    return points


def _histogram_points(family: Family, now: int, started: int) -> list[HistogramDataPoint]:
    name = family.name
    created = _created(family.samples, name)
    buckets: dict[Key, list[tuple[float, float, Any]]] = {}
    counts: dict[Key, float] = {}
    sums: dict[Key, float] = {}
    for sample in family.samples:
        if sample.name == name + "_bucket":
            key = _key(sample.labels, drop="le")
            bound = float(sample.labels["le"])
            buckets.setdefault(key, []).append((bound, sample.value, sample.exemplar))
        elif sample.name == name + "_count":
            counts[_key(sample.labels)] = sample.value
        elif sample.name == name + "_sum":
            sums[_key(sample.labels)] = sample.value
    points = []
    for key, cumulative in buckets.items():
        cumulative.sort(key=lambda bucket: bucket[0])
        bounds = [bound for bound, _, _ in cumulative if not math.isinf(bound)]
        per_bucket = []
        previous = 0.0
        exemplars = []
        for _bound, total, exemplar in cumulative:
            per_bucket.append(int(total - previous))
            previous = total
            if exemplar is not None:
                converted = _exemplar(exemplar)
                if converted is not None:
                    exemplars.append(converted)
        if len(per_bucket) == len(bounds):  # no +Inf bucket: everything was below the bounds
            per_bucket.append(0)
        points.append(
            HistogramDataPoint(
                attributes=dict(key),
                start_time_unix_nano=created.get(key, started),
                time_unix_nano=now,
                count=int(counts.get(key, previous)),
                sum=sums.get(key, 0.0),
                bucket_counts=per_bucket,
                explicit_bounds=bounds,
                # Prometheus histograms do not keep them; unset in OTLP.
                min=None,  # type: ignore[arg-type]
                max=None,  # type: ignore[arg-type]
                exemplars=exemplars,
            )
        )
    return points


def _exemplar(exemplar: Any) -> Exemplar | None:
    from opentelemetry.sdk.metrics import Exemplar

    labels = dict(exemplar.labels)
    try:
        trace_id = int(labels.pop("trace_id"), 16) if "trace_id" in labels else None
        span_id = int(labels.pop("span_id"), 16) if "span_id" in labels else None
    except ValueError:
        return None
    timestamp = exemplar.timestamp
    return Exemplar(
        filtered_attributes=labels,
        value=exemplar.value,
        time_unix_nano=int(float(timestamp) * 1e9) if timestamp is not None else time.time_ns(),
        span_id=span_id,
        trace_id=trace_id,
    )
