"""The directmail example: GET /directmail-csv is limited to 30 a minute per client."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from directmail.service import create_app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "directmail"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The example as ``make run`` builds it (its chassis.toml), with the ratelimit plugin."""
    for name in list(os.environ):
        if name.upper().startswith("CHASSIS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CHASSIS_ENV_FILE", "")
    monkeypatch.setenv("CHASSIS_CONFIG", str(EXAMPLE / "chassis.toml"))
    # Every plugin chassis.toml switches on by name, and ours.
    monkeypatch.setenv("CHASSIS_PLUGINS", "metrics,optimizer,pagination,idempotency,ratelimit")
    monkeypatch.setenv("CHASSIS_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("CHASSIS_SQLALCHEMY__URL", f"sqlite:///{tmp_path / 'dm.db'}")
    app = create_app()
    assert "ratelimit" in [plugin.name for plugin in app.active_plugins]
    with app.test_client() as test_client:
        yield test_client


def test_the_csv_export_is_limited_per_client(client: Any) -> None:
    answers = [client.get("/directmail-csv", params={"communities": "Bibury"}) for _ in range(31)]
    assert [r.status_code for r in answers[:30]] == [200] * 30
    assert answers[0].headers["RateLimit-Policy"] == '"30-per-1m";q=30;w=60'
    assert answers[0].headers["RateLimit"].startswith('"30-per-1m";r=29;t=')
    refused = answers[30]
    assert refused.status_code == 429
    assert refused.json()["violated-policies"] == ["30-per-1m"]
    assert int(refused.headers["Retry-After"]) >= 1
    # Other operations of the example are not limited.
    assert client.get("/premises/7").status_code == 200
    assert "RateLimit" not in client.get("/premises/7").headers
