"""Client metrics on /metrics when the metrics plugin is on: requests, errors, latency,
retries, refusals and the breaker state, with bounded labels."""

from __future__ import annotations

import re

import chassis_metrics
import pytest


def _value(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_requests_latency_retries_and_the_breaker_are_counted(client_app, downstream, kind):
    downstream.fail(503)
    app = client_app(
        plugins=(chassis_metrics,),
        retry={"attempts": 2},
        breaker={"failure_threshold": 2, "reset_timeout": 30},
    )
    with app.test_client() as client:
        client.get(f"/{kind}/items")  # 503, then 200
        assert _value(client.get("/metrics").text, "chassis_client_breaker_state") == 0
        downstream.down(503)
        client.get(f"/{kind}/items")  # 503, 503: the breaker opens
        client.get(f"/{kind}/items")  # refused
        text = client.get("/metrics").text
    service = {"service": "down", "method": "GET"}
    assert _value(text, "chassis_client_requests_total", status_class="2xx", **service) == 1
    assert _value(text, "chassis_client_requests_total", status_class="5xx", **service) == 3
    assert (
        _value(text, "chassis_client_request_duration_seconds_count", status_class="5xx", **service)
        == 3
    )
    assert _value(text, "chassis_client_retries_total", **service) == 2
    assert _value(text, "chassis_client_refused_total", service="down", reason="breaker") == 1
    assert _value(text, "chassis_client_breaker_state", service="down") == 2


def test_failures_without_a_response_are_errors_by_kind(client_app, downstream):
    downstream.hang(2, times=2)
    app = client_app(plugins=(chassis_metrics,), timeout={"read": 0.1}, retry={"attempts": 2})
    with app.test_client() as client:
        assert client.get("/sync/slow").status_code == 504
        text = client.get("/metrics").text
    labels = {"service": "down", "method": "GET"}
    assert _value(text, "chassis_client_errors_total", kind="timeout", **labels) == 2
    assert _value(text, "chassis_client_requests_total", status_class="error", **labels) == 2


def test_without_the_metrics_plugin_nothing_is_registered(client_app, downstream):
    app = client_app()
    with app.test_client() as client:
        assert client.get("/sync/items").json()["status"] == 200
        assert client.get("/metrics").status_code == 404
