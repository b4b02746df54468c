"""The directmail example: ``GET /premises`` and its filters are paginated, the CSV is not."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from directmail.service import create_app
from pagination_support import follow, links, query_of

SEED_ROWS = 500  # the example's migration seeds this many


def _client(tmp_path: Path, **settings: Any) -> Any:
    app = create_app(
        settings={
            "plugins": ["pagination"],
            "sqlalchemy": {"url": f"sqlite:///{tmp_path / 'dm.db'}"},
            **settings,
        }
    )
    return app.test_client()


@pytest.fixture
def client(make_chassis_app: Any, tmp_path: Path) -> Iterator[Any]:
    make_chassis_app()  # clears CHASSIS_* from the environment
    with _client(tmp_path) as client:
        yield client


def test_premises_come_in_pages(client: Any) -> None:
    response = client.get("/premises")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()] == list(range(1, 26))
    assert links(response)["next"] == "http://testserver/premises?offset=25&limit=25"
    pages = follow(client, "/premises?limit=100")
    assert [row["id"] for page in pages for row in page.json()] == list(range(1, SEED_ROWS + 1))


def test_filters_are_kept_in_the_links(client: Any) -> None:
    everything = client.get("/directmail-csv", params={"communities": "Winson,Bibury"}).text
    expected = [int(row["id"]) for row in csv.DictReader(io.StringIO(everything))]
    pages = follow(client, "/premises?communities=Winson,Bibury&limit=20")
    assert [row["id"] for page in pages for row in page.json()] == expected
    assert query_of(links(pages[0])["next"]) == {
        "communities": ["Winson,Bibury"],
        "offset": ["20"],
        "limit": ["20"],
    }


def test_the_csv_is_not_paginated(client: Any) -> None:
    response = client.get("/directmail-csv")
    assert response.status_code == 200
    assert len(list(csv.DictReader(io.StringIO(response.text)))) == SEED_ROWS
    assert "link" not in response.headers


def test_bad_page_parameters(client: Any) -> None:
    for query, name in (("limit=0", "limit"), ("limit=101", "limit"), ("offset=-1", "offset")):
        response = client.get(f"/premises?{query}")
        assert response.status_code == 400
        assert response.json()["invalid-params"][0]["name"] == name


def test_the_spec_documents_the_parameters(client: Any) -> None:
    served = client.get("/openapi.json").json()
    names = [p["name"] for p in served["paths"]["/premises"]["get"]["parameters"]]
    assert names[-2:] == ["offset", "limit"]
    csv_names = [p["name"] for p in served["paths"]["/directmail-csv"]["get"]["parameters"]]
    assert "offset" not in csv_names
    assert "limit" not in csv_names


def test_envelope_meta(make_chassis_app: Any, tmp_path: Path) -> None:
    make_chassis_app()
    with _client(tmp_path, envelope={"enabled": True}) as client:
        body = client.get("/premises?offset=490&limit=5").json()
    assert [row["id"] for row in body["data"]] == [491, 492, 493, 494, 495]
    assert body["meta"]["pagination"] == {
        "offset": 490,
        "limit": 5,
        "next": "http://testserver/premises?offset=495&limit=5",
        "prev": "http://testserver/premises?offset=485&limit=5",
        "first": "http://testserver/premises?offset=0&limit=5",
    }
