"""The example service's POST /premises: a retry with its Idempotency-Key adds nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chassis_auth
import chassis_idempotency
import pytest
from chassis_auth.testing import LocalIssuer
from directmail.service import create_app
from idempotency_support import key, same_response

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
def client(
    make_chassis_app: Any, auth_issuer: LocalIssuer, tmp_path: Path, app_class: Any
) -> Iterator[Any]:
    make_chassis_app()  # clears CHASSIS_* from the environment
    settings = {
        "plugins": [],
        "sqlalchemy": {"url": f"sqlite:///{tmp_path / 'dm.db'}"},
        **auth_issuer.settings(audience=["directmail"], realm="directmail"),
    }
    auth_issuer.audience = "directmail"
    app = create_app(
        settings=settings,
        plugins={"auth": chassis_auth, "idempotency": chassis_idempotency},
        app_class=app_class,
    )
    with app.test_client() as test_client:
        yield test_client


def test_example_retried_post_premises_adds_one_premises(
    client: Any, auth_issuer: LocalIssuer
) -> None:
    token = auth_issuer.auth_header(["premises:write"])
    before = client.get("/directmail-csv").text.count("\n")
    first = client.post("/premises", json=NEW, headers={**token, **key("new-premises-1")})
    retry = client.post("/premises", json=NEW, headers={**token, **key("new-premises-1")})
    other = client.post("/premises", json=NEW, headers={**token, **key("new-premises-2")})
    changed = client.post(
        "/premises", json={**NEW, "segment": "S3"}, headers={**token, **key("new-premises-1")}
    )
    assert first.status_code == 201
    assert same_response(first, retry) and retry.headers["idempotent-replayed"] == "true"
    assert other.json()["id"] == first.json()["id"] + 1  # the retry added no row
    assert changed.status_code == 422
    assert client.get("/directmail-csv").text.count("\n") == before + 2  # 2 added, not 3
