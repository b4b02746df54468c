"""The declared request path with every shipped plugin: order, observers, `chassis stack`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import chassis
import chassis_auth
import chassis_metrics
import chassis_optimizer
import chassis_pagination
import chassis_ratelimit
import chassis_tracing
import pytest
from chassis._request_path import CONNEXION_LAYERS, SLOTS
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

ROOT = Path(__file__).parents[2]
EVERY_PLUGIN = [
    "tracing",
    "metrics",
    "optimizer",
    "pagination",
    "auth",
    "idempotency",
    "ratelimit",
]

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "path", "version": "1"},
    "paths": {
        "/items": {
            "get": {
                "operationId": f"{__name__}.list_items",
                "responses": {"200": {"description": "items"}},
            }
        }
    },
}


def list_items() -> list[dict[str, int]]:
    return [{"id": n} for n in range(50)]


def _app(make_chassis_app: Any, order: list[str], **options: Any) -> chassis.App:
    return make_chassis_app(
        spec=SPEC,
        settings={"plugins": order, "cors": {"enabled": True, "allow_origins": ["*"]}},
        **options,
    )


def test_the_path_does_not_depend_on_the_order_plugins_are_listed(make_chassis_app):
    first = _app(make_chassis_app, EVERY_PLUGIN).stack()
    second = _app(make_chassis_app, list(reversed(EVERY_PLUGIN))).stack()
    assert first == second
    owners = [(row["slot"], row["owner"]) for row in first]
    # Observers outside every layer that can change a status or a body.
    assert owners.index(("observe", "tracing")) < owners.index(("observe", "metrics"))
    observed = max(owners.index(("observe", "tracing")), owners.index(("observe", "metrics")))
    for changer in [("cors", "kernel"), ("last_resort", "kernel"), ("encode", "optimizer")]:
        assert owners.index(changer) > observed, changer
    assert ("authorized", "pagination") in owners
    assert owners.index(("authorized", "ratelimit")) < owners.index(("authorized", "pagination"))
    assert ("handler", "optimizer") in owners


def test_slots_follow_the_declared_list(make_chassis_app):
    rows = _app(make_chassis_app, EVERY_PLUGIN).stack()
    positions = [SLOTS.index(row["slot"]) for row in rows if row["slot"] in SLOTS]
    assert positions == sorted(positions)
    assert rows[0] == {
        "name": "ServerErrorMiddleware",
        "slot": "server_error",
        "owner": "connexion",
    }
    assert rows[-1]["slot"] == "app"


def test_the_plugin_guide_lists_the_slots_in_order():
    guide = (ROOT / "docs" / "plugins.md").read_text()
    table = guide[guide.index("| slot | who sits there |") :]
    documented = re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.MULTILINE)
    assert tuple(documented[: len(SLOTS)]) == SLOTS
    for slot, layer in CONNEXION_LAYERS.items():
        row = next(line for line in table.splitlines() if line.startswith(f"| `{slot}` |"))
        assert layer.__name__ in row


def _assert_documented(rows: list[dict[str, Any]]) -> None:
    """Every layer's slot has its row in the guide's table, naming the plugin that owns it."""
    guide = (ROOT / "docs" / "plugins.md").read_text()
    table = guide[guide.index("| slot | who sits there |") :]
    for row in rows:
        if row["slot"] == "app":
            continue
        line = next(x for x in table.splitlines() if x.startswith(f"| `{row['slot']}` |"))
        if row["owner"] not in ("kernel", "connexion"):
            assert row["owner"] in line, (row, line)


def test_the_plugin_guide_names_where_each_shipped_plugin_sits(make_chassis_app):
    _assert_documented(_app(make_chassis_app, EVERY_PLUGIN).stack())


def test_the_example_service_s_stack_is_the_documented_one(make_chassis_app, tmp_path, app_class):
    """``chassis stack`` of the example, with every plugin installed here, as the guide says."""
    from directmail.service import create_app

    make_chassis_app()  # clears CHASSIS_* from the environment
    app = create_app(
        settings={"sqlalchemy": {"url": f"sqlite:///{tmp_path / 'dm.db'}"}}, app_class=app_class
    )
    owners = {row["owner"] for row in app.stack()}
    layered = {"tracing", "metrics", "optimizer", "pagination", "idempotency", "ratelimit"}
    assert {"sqlalchemy", *layered} <= owners
    _assert_documented(app.stack())


def test_a_conditional_get_answered_304_is_a_304_span_and_metric(make_chassis_app):
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # The optimizer listed first: layers go by slot, not by this order.
    app = _app(make_chassis_app, ["optimizer", "metrics", "tracing"], use_tracer=provider)
    with app.test_client() as client:
        first = client.get("/items")
        assert first.status_code == 200 and first.headers["etag"]
        again = client.get("/items", headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
        scrape = client.get("/metrics").text
    statuses = [
        span.attributes["http.response.status_code"]
        for span in exporter.get_finished_spans()
        if span.kind is trace.SpanKind.SERVER
    ]
    assert statuses == [200, 304]
    assert re.search(
        r'http_requests_total\{method="GET",route="/items",status="304"\} 1\.0', scrape
    )
    provider.shutdown()


@pytest.mark.parametrize(
    ("plugin", "section", "check"),
    [
        (
            chassis_pagination,
            {"default_limit": 7},
            lambda c: c.settings.default_limit == 7 and c.state,
        ),
        (chassis_metrics, {"namespace": "shop"}, lambda c: c.settings.namespace == "shop"),
        (chassis_optimizer, {"minify": False}, lambda c: c.state.settings.minify is False),
        (chassis_tracing, {"exclude_paths": ["/x/*"]}, lambda c: c.state.excluded("/x/1")),
        (chassis_auth, {"realm": "shop"}, lambda c: c.settings.realm == "shop"),
        (
            chassis_ratelimit,
            {"default_limits": "5/second"},
            lambda c: [p.limit for p in c.state.defaults] == [5],
        ),
    ],
    ids=["pagination", "metrics", "optimizer", "tracing", "auth", "ratelimit"],
)
def test_every_shipped_plugin_passed_as_an_object_reads_its_own_section(
    make_chassis_app, plugin, section, check
):
    name = plugin.__name__.removeprefix("chassis_")
    app = make_chassis_app(spec=SPEC, plugins=[plugin], settings={name: section})
    context = app.plugin_context(name)
    assert context is not None and context.plugin is plugin
    assert check(context)
    with app.test_client() as client:
        assert client.get("/items").status_code == 200


def test_two_apps_in_one_process_keep_their_own_plugin_state(make_chassis_app):
    one = make_chassis_app(
        spec=SPEC,
        plugins=[chassis_tracing, chassis_optimizer],
        settings={"tracing": {"exclude_paths": ["/items"]}, "optimizer": {"minify": True}},
    )
    two = make_chassis_app(
        spec=SPEC,
        plugins=[chassis_tracing, chassis_optimizer],
        settings={"tracing": {"exclude_paths": []}, "optimizer": {"minify": False}},
    )
    assert chassis_tracing.runtime(one) is not chassis_tracing.runtime(two)
    assert chassis_tracing.runtime(one).excluded("/items")
    assert not chassis_tracing.runtime(two).excluded("/items")
    assert chassis_optimizer.get_optimizer(one).settings.minify is True
    assert chassis_optimizer.get_optimizer(two).settings.minify is False


STACK_APP = """
import chassis

def create_app():
    app = chassis.App("stacked", settings={"plugins": %r})
    return app
"""


def _stack(tmp_path: Path, order: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "stacked.py").write_text(STACK_APP % (order,))
    return subprocess.run(
        [sys.executable, "-m", "chassis._cli", "stack", "stacked:create_app", "--factory", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "CHASSIS_ENV_FILE": ""},
    )


def test_chassis_stack_prints_the_resolved_path(tmp_path: Path):
    done = _stack(tmp_path, EVERY_PLUGIN, "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert all({"name", "slot", "owner"} <= set(row) for row in rows)
    assert {"name": "TracingMiddleware", "slot": "observe", "owner": "tracing"} in rows
    reversed_rows = json.loads(_stack(tmp_path, list(reversed(EVERY_PLUGIN)), "--json").stdout)
    assert rows == reversed_rows
    text = _stack(tmp_path, EVERY_PLUGIN)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["ServerErrorMiddleware", "server_error", "connexion"]
    assert any(line.split() == ["MetricsMiddleware", "observe", "metrics"] for line in lines)
