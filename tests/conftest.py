"""Fixtures shared by every package's tests: real services and fake plugin distributions."""

from __future__ import annotations

import os
import socket
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import chassis
import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get(
    "CHASSIS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("CHASSIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a real server is not reachable; in CI (CI=true) fail instead."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: database and cache tests must run)")
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> str:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_URL


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    """A Redis key prefix of this test's own (tests run in parallel workers, and beside other
    checkouts' tests on one Redis); its keys are deleted afterwards."""
    import redis

    prefix = f"test:chassis:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# Behaviour tests run on both app classes so the two cannot drift: a test (or a package's
# conftest, by overriding the testing kit's ``chassis_app_class`` with this) takes ``app_class``.
APP_CLASSES: list[type[chassis.BaseApp]] = [chassis.App]
if hasattr(chassis, "AsyncApp"):
    APP_CLASSES.append(chassis.AsyncApp)


@pytest.fixture(params=APP_CLASSES, ids=lambda cls: cls.__name__)
def app_class(request: pytest.FixtureRequest) -> type[chassis.BaseApp]:
    cls: type[chassis.BaseApp] = request.param
    return cls


@pytest.fixture
def chassis_app_class(app_class: type[chassis.BaseApp]) -> type[chassis.BaseApp]:
    """The testing kit's ``make_chassis_app`` builds both classes in every package's tests."""
    return app_class


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``flask_only`` (Flask views, Flask's JSON provider) run on chassis.App
    alone: their AsyncApp variants are deselected, not skipped."""
    kept, deselected = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        cls = callspec.params.get("app_class", chassis.App) if callspec else chassis.App
        if cls is not chassis.App and item.get_closest_marker("flask_only"):
            deselected.append(item)
        else:
            kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


FakeDistribution = Callable[..., Path]


@pytest.fixture
def fake_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeDistribution]:
    """Install a throw-away distribution on ``sys.path``: its modules and entry points.

    ``fake_distribution("acme-audit", "1.2.3", plugins={"audit": "acme_audit"},
    modules={"acme_audit": "source"})`` makes ``importlib.metadata`` see an ``audit`` entry
    point in group ``chassis.plugins``, exactly as a pip-installed distribution would.
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    added: list[str] = []

    def make(
        name: str,
        version: str = "1.0.0",
        *,
        plugins: dict[str, str] | None = None,
        modules: dict[str, str] | None = None,
    ) -> Path:
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        lines = ["[chassis.plugins]"] + [f"{k} = {v}" for k, v in (plugins or {}).items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for module, source in (modules or {}).items():
            (site / f"{module}.py").write_text(textwrap.dedent(source))
            added.append(module)
        return site

    yield make
    for module in added:
        sys.modules.pop(module, None)
