"""Keyset (cursor) pagination over 10,000 rows on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from pagination_support import ROWS, Database, follow, insert_rows, links, query_of


def ids(response: Any) -> list[int]:
    body = response.json()
    data = body["data"] if isinstance(body, dict) else body
    return [row["id"] for row in data]


def by_score_desc(rows: list[dict[str, Any]]) -> list[int]:
    return [row["id"] for row in sorted(rows, key=lambda r: (-r["score"], -r["id"]))]


def test_first_page_and_links(db: Database, client_for: Any) -> None:
    client = client_for(db)
    response = client.get("/items-keyset")
    assert response.status_code == 200
    assert ids(response) == by_score_desc(db.snapshot)[:25]
    rel = links(response)
    assert set(rel) == {"first", "next", "last"}  # no prev on the first page
    assert rel["first"] == "http://testserver/items-keyset?limit=25"
    assert set(query_of(rel["next"])) == {"cursor", "limit"}


def test_following_next_returns_every_row_once_in_order(db: Database, client_for: Any) -> None:
    client = client_for(db)
    responses = follow(client, "/items-keyset?limit=100")
    assert len(responses) == ROWS // 100
    seen = [row_id for response in responses for row_id in ids(response)]
    assert seen == by_score_desc(db.snapshot)
    assert "next" not in links(responses[-1])
    assert all("prev" in links(response) for response in responses[1:])


def test_last_page_then_prev_links_back_to_the_start(db: Database, client_for: Any) -> None:
    client = client_for(db)
    last = client.get("/items-keyset?limit=100")
    responses = follow(client, links(last)["last"], rel="prev")
    assert len(responses) == ROWS // 100
    pages = [ids(response) for response in reversed(responses)]
    assert [row_id for page in pages for row_id in page] == by_score_desc(db.snapshot)
    assert "next" not in links(responses[0])  # the last page has no next
    assert "prev" not in links(responses[-1])  # back at the first page
    # From a page reached backwards, next goes forwards again.
    middle = responses[40]
    assert ids(client.get(links(middle)["next"])) == ids(responses[39])


def test_middle_page_by_cursor_is_the_same_page_as_by_offset(db: Database, client_for: Any) -> None:
    client = client_for(db)
    responses = follow(client, "/items-keyset?limit=100", limit=51)
    assert ids(responses[50]) == by_score_desc(db.snapshot)[5000:5100]


def test_filters_and_repeated_parameters_are_kept(db: Database, client_for: Any) -> None:
    client = client_for(db)
    responses = follow(client, "/items-keyset?category=alpha&category=delta&q=item&limit=100")
    expected = by_score_desc([r for r in db.snapshot if r["category"] in ("alpha", "delta")])
    assert [row_id for response in responses for row_id in ids(response)] == expected
    next_query = query_of(links(responses[0])["next"])
    assert next_query["category"] == ["alpha", "delta"]
    assert next_query["q"] == ["item"]


def test_mixed_directions_and_date_keys(db: Database, client_for: Any) -> None:
    client = client_for(db)
    responses = follow(client, "/items-keyset-mixed?limit=100")
    expected = sorted(db.snapshot, key=lambda r: (r["created"], -r["id"]))
    assert [i for response in responses for i in ids(response)] == [r["id"] for r in expected]


def test_legacy_query_and_core_rows(db: Database, client_for: Any) -> None:
    client = client_for(db)
    expected = [r["id"] for r in sorted(db.snapshot, key=lambda r: (r["score"], r["id"]))]
    for path in ("/items-keyset-query", "/items-keyset-rows"):
        responses = follow(client, f"{path}?limit=100")
        assert [i for response in responses for i in ids(response)] == expected


def test_totals_and_envelope(db: Database, client_for: Any) -> None:
    client = client_for(db, settings={"envelope": {"enabled": True}, "pagination": {"total": True}})
    first = client.get("/items-keyset?limit=10")
    assert first.headers["x-total-count"] == str(ROWS)
    meta = first.json()["meta"]["pagination"]
    assert meta["total"] == ROWS
    assert meta["cursor"] is None
    assert meta["limit"] == 10
    assert meta["prev"] is None
    assert meta["next"] == links(first)["next"]
    assert meta["last"] == links(first)["last"]
    second = client.get(meta["next"]).json()["meta"]["pagination"]
    assert second["cursor"] == query_of(meta["next"])["cursor"][0]
    assert second["prev"] is not None


def test_totals_off_by_default(db: Database, client_for: Any) -> None:
    response = client_for(db).get("/items-keyset?limit=10")
    assert "x-total-count" not in response.headers


def _keys(rows: list[dict[str, Any]]) -> dict[int, tuple[int, int]]:
    return {row["id"]: (-row["score"], -row["id"]) for row in rows}


def test_no_row_skipped_or_repeated_when_rows_are_inserted_between_pages(
    fresh_db: Database, client_for: Any
) -> None:
    client = client_for(fresh_db)
    original = fresh_db.rows()
    before = follow(client, "/items-keyset?limit=100", limit=30)  # 3,000 rows read
    seen = [row_id for response in before for row_id in ids(response)]
    position = _keys(original)[seen[-1]]
    # 2,000 rows with scores all over the range: some sort before the pages already read,
    # some after. Offset pagination would now repeat rows; keyset must not.
    added = insert_rows(fresh_db, ROWS + 1, 2000)
    for response in follow(client, links(before[-1])["next"]):
        seen.extend(ids(response))
    counts = Counter(seen)
    assert max(counts.values()) == 1, "a row came twice"
    assert {row["id"] for row in original} <= set(counts), "a row was skipped"
    added_keys = _keys(added)
    later = {row_id for row_id, key in added_keys.items() if key > position}
    assert set(counts) - {row["id"] for row in original} == later

    # Offset pagination would have repeated every added row that sorts before the position.
    assert len(added_keys) - len(later) > 300


def test_no_row_skipped_or_repeated_under_a_concurrent_writer(
    fresh_db: Database, client_for: Any
) -> None:
    client = client_for(fresh_db)
    original = {row["id"] for row in fresh_db.rows()}
    stop = threading.Event()
    inserted: list[int] = []

    def writer() -> None:
        next_id = ROWS + 1
        while not stop.is_set() and next_id < ROWS + 3000:
            insert_rows(fresh_db, next_id, 50, seed=next_id)
            inserted.extend(range(next_id, next_id + 50))
            next_id += 50
            stop.wait(0.005)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        responses = follow(client, "/items-keyset?limit=100")
    finally:
        stop.set()
        thread.join()
    assert inserted, "the writer never ran"
    seen = Counter(row_id for response in responses for row_id in ids(response))
    assert max(seen.values()) == 1, "a row came twice"
    assert original <= set(seen), "a row was skipped"
