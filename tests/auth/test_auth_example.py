"""The example service's protected write endpoint: POST /premises needs premises:write."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chassis_auth
import pytest
from chassis_auth.testing import LocalIssuer
from directmail.service import create_app

NEW = {
    "address": "3 Mill Road",
    "postcode": "GL7 5AB",
    "community": "Winson",
    "rfs": True,
    "rfs_date": "2025-04-01",
    "business": False,
    "bduk": True,
    "segment": "S2",
}


@pytest.fixture
def client(make_chassis_app: Any, auth_issuer: LocalIssuer, tmp_path: Path) -> Iterator[Any]:
    make_chassis_app()  # clears CHASSIS_* from the environment
    settings = {
        "plugins": [],
        "sqlalchemy": {"url": f"sqlite:///{tmp_path / 'dm.db'}"},
        **auth_issuer.settings(audience=["directmail"], realm="directmail"),
    }
    auth_issuer.audience = "directmail"
    app = create_app(settings=settings, plugins={"auth": chassis_auth})
    with app.test_client() as test_client:
        yield test_client


def test_auth_example_post_premises_with_the_scope(client: Any, auth_issuer: LocalIssuer) -> None:
    headers = auth_issuer.auth_header(["premises:write"])

    response = client.post("/premises", json=NEW, headers=headers)

    assert response.status_code == 201
    created = response.json()
    assert created == {**NEW, "id": created["id"]}
    assert response.headers["location"] == f"/premises/{created['id']}"
    assert client.get(f"/premises/{created['id']}").json() == created


def test_auth_example_post_premises_refused(client: Any, auth_issuer: LocalIssuer) -> None:
    missing = client.post("/premises", json=NEW)
    read_only = client.post(
        "/premises", json=NEW, headers=auth_issuer.auth_header(["premises:read"])
    )
    other_audience = client.post(
        "/premises", json=NEW, headers=auth_issuer.auth_header(["premises:write"], aud="x")
    )

    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="directmail"'
    assert read_only.status_code == 403
    assert read_only.headers["www-authenticate"] == (
        'Bearer realm="directmail", error="insufficient_scope", scope="premises:write"'
    )
    assert other_audience.status_code == 401
    # Nothing was written: no row after the 500 the migration seeds.
    assert client.get("/premises", params={"offset": 500}).json() == []


def test_auth_example_reads_stay_open(client: Any) -> None:
    assert client.get("/premises/1").status_code == 200


def test_auth_example_security_comes_before_validation(
    client: Any, auth_issuer: LocalIssuer
) -> None:
    """An anonymous caller learns nothing from validation errors: 401 before 400."""
    assert client.post("/premises", json={"address": 1}).status_code == 401
    headers = auth_issuer.auth_header(["premises:write"])
    assert client.post("/premises", json={"address": 1}, headers=headers).status_code == 400


def test_auth_example_without_the_plugin_refuses_writes(
    make_chassis_app: Any, tmp_path: Path, auth_issuer: LocalIssuer
) -> None:
    """No auth plugin: Connexion has no function for the scheme, so nothing gets in."""
    make_chassis_app()
    app = create_app(
        settings={"plugins": [], "sqlalchemy": {"url": f"sqlite:///{tmp_path / 'x.db'}"}}
    )
    with app.test_client() as client:
        headers = auth_issuer.auth_header(["premises:write"], aud="directmail")
        assert client.post("/premises", json=NEW, headers=headers).status_code == 401
