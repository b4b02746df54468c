"""The example service as ``make run`` starts it (its chassis.toml, every installed plugin):
the optimizer on, ``GET /premises`` cached."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "directmail"


@pytest.fixture
def client(make_chassis_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from directmail.service import create_app

    make_chassis_app()  # clears CHASSIS_* from the environment
    monkeypatch.setenv("CHASSIS_CONFIG", str(EXAMPLE / "chassis.toml"))
    app = create_app(settings={"sqlalchemy": {"url": f"sqlite:///{tmp_path / 'dm.db'}"}})
    with app.test_client() as test_client:
        yield test_client


def test_premises_are_cached_and_compressed(client: Any) -> None:
    first = client.get("/premises?limit=64", headers={"Accept-Encoding": "gzip"})
    second = client.get("/premises?limit=64", headers={"Accept-Encoding": "identity"})

    assert first.status_code == second.status_code == 200
    assert first.headers["cache-status"] == "chassis; fwd=uri-miss; stored"
    assert second.headers["cache-status"].startswith("chassis; hit")
    assert first.headers["cache-control"] == "public, max-age=30"
    assert first.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in first.headers["vary"].lower()
    assert first.json() == second.json()
    assert len(second.json()) == 64


def test_one_premises_is_not_cached_but_compressed_when_large_enough(client: Any) -> None:
    response = client.get("/premises/1", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert "cache-status" not in response.headers
    assert response.headers.get("content-encoding") is None  # ~160 bytes: under the minimum

    with client.stream("GET", "/directmail-csv", headers={"Accept-Encoding": "gzip"}) as raw:
        body = b"".join(raw.iter_raw())
    assert raw.headers["content-encoding"] == "gzip"
    assert gzip.decompress(body).startswith(b"id,")
    assert "accept-encoding" in raw.headers["vary"].lower()
