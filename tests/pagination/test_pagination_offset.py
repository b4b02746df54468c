"""Offset pagination over 10,000 rows on SQLite and PostgreSQL: pages, links, totals, envelope."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from pagination_support import ROWS, Database, follow, links, query_of


def ids(response: Any) -> list[int]:
    body = response.json()
    data = body["data"] if isinstance(body, dict) else body
    return [row["id"] for row in data]


def test_first_page_has_default_size_and_next_link(db: Database, client_for: Any) -> None:
    client = client_for(db)
    response = client.get("/items")
    assert response.status_code == 200
    assert ids(response) == list(range(1, 26))
    rel = links(response)
    assert set(rel) == {"first", "next"}  # no prev on the first page, no last without a total
    assert rel["next"] == "http://testserver/items?offset=25&limit=25"
    assert rel["first"] == "http://testserver/items?offset=0&limit=25"
    assert "x-total-count" not in response.headers


def test_middle_page(db: Database, client_for: Any) -> None:
    client = client_for(db)
    response = client.get("/items?offset=5000&limit=100")
    assert ids(response) == list(range(5001, 5101))
    rel = links(response)
    assert query_of(rel["prev"]) == {"offset": ["4900"], "limit": ["100"]}
    assert query_of(rel["next"]) == {"offset": ["5100"], "limit": ["100"]}


def test_last_pages(db: Database, client_for: Any) -> None:
    client = client_for(db)
    short = client.get("/items?offset=9990&limit=25")
    assert ids(short) == list(range(9991, 10001))
    assert "next" not in links(short)
    exact = client.get("/items?offset=9975&limit=25")  # ends exactly on the last row
    assert ids(exact) == list(range(9976, 10001))
    assert "next" not in links(exact)
    assert query_of(links(exact)["prev"])["offset"] == ["9950"]
    beyond = client.get("/items?offset=20000")
    assert beyond.status_code == 200
    assert beyond.json() == []
    assert "next" not in links(beyond)


@pytest.mark.parametrize("path", ["/items", "/items-query", "/items-list"])
def test_following_next_returns_every_row_exactly_once(
    db: Database, client_for: Any, path: str
) -> None:
    client = client_for(db)
    responses = follow(client, f"{path}?limit=100")
    assert len(responses) == ROWS // 100
    seen = [row_id for response in responses for row_id in ids(response)]
    assert seen == list(range(1, ROWS + 1))


def test_following_prev_from_the_end_returns_every_row(db: Database, client_for: Any) -> None:
    client = client_for(db)
    responses = follow(client, "/items?offset=9900&limit=100", rel="prev")
    seen = sorted(row_id for response in responses for row_id in ids(response))
    assert seen == list(range(1, ROWS + 1))


def test_rows_of_a_core_select_on_a_connection(db: Database, client_for: Any) -> None:
    client = client_for(db)
    response = client.get("/items-rows?offset=10&limit=3")
    assert response.json() == [
        {"id": 11, "name": "item 11 & co"},
        {"id": 12, "name": "item 12 & co"},
        {"id": 13, "name": "item 13 & co"},
    ]


def test_filters_and_repeated_parameters_are_kept_in_links(db: Database, client_for: Any) -> None:
    client = client_for(db)
    expected = [
        row["id"]
        for row in db.rows()
        if row["category"] in ("alpha", "beta") and "1 &" in row["name"]
    ]
    assert len(expected) == 1000
    url = "/items?category=alpha&limit=50&category=beta&q=1%20%26"
    responses = follow(client, url)
    seen = [row_id for response in responses for row_id in ids(response)]
    assert seen == expected
    next_url = links(responses[0])["next"]
    # Absolute, every other parameter kept in order (the repeated one twice), URL-encoded.
    assert next_url == (
        "http://testserver/items?category=alpha&category=beta&q=1%20%26&offset=50&limit=50"
    )
    assert query_of(next_url)["q"] == ["1 &"]


def test_links_use_the_host_and_scheme_the_server_sees(db: Database, client_for: Any) -> None:
    client = client_for(db)
    response = client.get("https://api.example.com:8443/items?limit=2")
    parts = urlsplit(links(response)["next"])
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "api.example.com:8443", "/items")
    # X-Forwarded-* headers are not trusted here: the ASGI server's proxy support decides.
    spoofed = client.get(
        "/items?limit=2", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.test"}
    )
    assert links(spoofed)["next"].startswith("http://testserver/items?")


def test_totals_are_off_by_default(db: Database, client_for: Any) -> None:
    response = client_for(db).get("/items?limit=10")
    assert "x-total-count" not in response.headers
    assert "last" not in links(response)


def test_totals_on_in_settings(db: Database, client_for: Any) -> None:
    client = client_for(db, settings={"pagination": {"total": True}})
    response = client.get("/items?offset=40&limit=30&category=beta")
    assert response.headers["x-total-count"] == str(ROWS // 5)
    last = query_of(links(response)["last"])
    assert last == {"category": ["beta"], "offset": ["1990"], "limit": ["30"]}
    assert ids(client.get(links(response)["last"]))[-1] == 9996  # the last "beta" row


def test_totals_on_for_one_operation(db: Database, client_for: Any) -> None:
    client = client_for(db)
    response = client.get("/items-total")
    assert response.headers["x-total-count"] == str(ROWS)
    assert len(ids(response)) == 50  # the operation's default_limit
    assert query_of(links(response)["last"]) == {"offset": ["9950"], "limit": ["50"]}
    assert len(ids(client.get("/items-total?limit=500"))) == 500  # its max_limit
    assert "x-total-count" not in client.get("/items").headers


def test_envelope_off_sends_the_list(db: Database, client_for: Any) -> None:
    response = client_for(db).get("/items?limit=2")
    assert isinstance(response.json(), list)


def test_envelope_on_carries_pagination_meta(db: Database, client_for: Any) -> None:
    client = client_for(db, settings={"envelope": {"enabled": True}})
    response = client.get("/items?offset=2&limit=2&q=item")
    body = response.json()
    assert [row["id"] for row in body["data"]] == [3, 4]
    meta = body["meta"]
    assert meta["request_id"] == response.headers["x-request-id"]
    assert meta["pagination"] == {
        "offset": 2,
        "limit": 2,
        "next": "http://testserver/items?q=item&offset=4&limit=2",
        "prev": "http://testserver/items?q=item&offset=0&limit=2",
        "first": "http://testserver/items?q=item&offset=0&limit=2",
    }
    assert links(response)["next"] == meta["pagination"]["next"]


def test_envelope_on_with_totals(db: Database, client_for: Any) -> None:
    client = client_for(db, settings={"envelope": {"enabled": True}})
    meta = client.get("/items-total?offset=9990&limit=5").json()["meta"]["pagination"]
    assert meta["total"] == ROWS
    assert meta["next"] == "http://testserver/items-total?offset=9995&limit=5"
    assert meta["last"] == "http://testserver/items-total?offset=9995&limit=5"
    last = client.get(meta["last"]).json()["meta"]["pagination"]
    assert last["next"] is None
    assert last["prev"] == "http://testserver/items-total?offset=9990&limit=5"


def test_non_json_responses_get_the_link_header(db: Database, client_for: Any) -> None:
    response = client_for(db).get("/items-csv?offset=2&limit=2")
    assert response.text == "3,item 3 & co\n4,item 4 & co\n"
    assert query_of(links(response)["next"]) == {"offset": ["4"], "limit": ["2"]}


def test_settings_change_the_page_sizes(db: Database, client_for: Any) -> None:
    client = client_for(db, settings={"pagination": {"default_limit": 5, "max_limit": 8}})
    assert len(ids(client.get("/items-undeclared"))) == 5
    assert len(ids(client.get("/items-undeclared?limit=8"))) == 8
    assert client.get("/items-undeclared?limit=9").status_code == 400


def test_paginate_works_without_the_plugin(db: Database, client_for: Any) -> None:
    """Handlers keep paging when the plugin is switched off; only the links are missing."""
    client = client_for(db, pagination=False)
    response = client.get("/items-undeclared?offset=3&limit=2")
    assert ids(response) == [4, 5]
    assert "link" not in response.headers
    assert client.get("/items-undeclared?limit=1000").status_code == 400


def test_a_lower_max_limit_lowers_the_default(db: Database, client_for: Any) -> None:
    client = client_for(db, settings={"pagination": {"max_limit": 10}})
    assert len(ids(client.get("/items-undeclared"))) == 10


def test_the_total_header_name_is_a_setting(db: Database, client_for: Any) -> None:
    client = client_for(db, settings={"pagination": {"total": True, "total_header": "X-Total"}})
    response = client.get("/items-undeclared?limit=1")
    assert response.headers["x-total"] == str(ROWS)
    assert "x-total-count" not in response.headers


def test_a_link_header_of_the_handler_is_kept(db: Database, client_for: Any) -> None:
    response = client_for(db).get("/items-own-link?limit=1")
    assert response.headers["link"].startswith('<https://docs.example.com/items>; rel="help", ')
    assert links(response) == {
        "help": "https://docs.example.com/items",
        "first": "http://testserver/items-own-link?offset=0&limit=1",
        "next": "http://testserver/items-own-link?offset=1&limit=1",
    }


def test_cors_exposes_the_paging_headers(sqlite_db: Database, client_for: Any) -> None:
    origin = "https://ui.example"
    client = client_for(
        sqlite_db,
        settings={
            "cors": {"enabled": True, "allow_origins": [origin]},
            "pagination": {"total": True},
        },
    )
    response = client.get("/items", headers={"Origin": origin})
    exposed = {h.strip() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"Link", "X-Total-Count", "X-Request-ID"} <= exposed
