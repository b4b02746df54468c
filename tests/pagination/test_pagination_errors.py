"""Bad pagination input: a 400 problem+json naming the parameter and why, never a 500 or the
whole table; bad settings and operation options stop start-up."""

from __future__ import annotations

import base64
import json
from typing import Any

import chassis
import chassis_pagination
import pytest
from pagination_support import Database, links, query_of, spec

BAD_OFFSET_LIMIT = [
    ("offset=-1", "offset", "must not be negative"),
    ("offset=abc", "offset", "must be an integer"),
    ("offset=1.5", "offset", "must be an integer"),
    ("offset=", "offset", "must be an integer"),
    ("offset=%20", "offset", "must be an integer"),
    ("offset=1e3", "offset", "must be an integer"),
    ("offset=99999999999999999999", "offset", "must be at most 9007199254740991"),
    ("offset=" + "9" * 5000, "offset", "must be at most 9007199254740991"),
    ("offset=-" + "9" * 5000, "offset", "must not be negative"),
    ("offset=1&offset=2", "offset", "must be given at most once"),
    ("limit=0", "limit", "must be at least 1"),
    ("limit=-5", "limit", "must be at least 1"),
    ("limit=101", "limit", "must be at most 100"),
    ("limit=100000000000", "limit", "must be at most 100"),
    ("limit=" + "1" * 400, "limit", "must be at most 100"),
    ("limit=%EF%BC%95", "limit", "must be an integer"),  # a full-width digit five
    ("limit=abc", "limit", "must be an integer"),
    ("limit=", "limit", "must be an integer"),
    ("limit=10&limit=20", "limit", "must be given at most once"),
]


def assert_problem(response: Any, parameter: str, reason: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 400
    assert body["title"] == "Bad Request"
    assert f"'{parameter}'" in body["detail"]
    assert reason in body["detail"]
    assert body["invalid-params"] == [
        {"name": parameter, "in": "query", "reason": body["invalid-params"][0]["reason"]}
    ]
    assert reason in body["invalid-params"][0]["reason"]
    assert body["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(("query", "parameter", "reason"), BAD_OFFSET_LIMIT)
@pytest.mark.parametrize(
    "path",
    [
        "/items",  # declares the package's parameters: the plugin answers before Connexion
        "/items-undeclared",  # declares nothing: paginate() checks
        "/items-list",  # a plain list
    ],
)
def test_bad_offset_or_limit(
    sqlite_db: Database, client_for: Any, path: str, query: str, parameter: str, reason: str
) -> None:
    response = client_for(sqlite_db).get(f"{path}?{query}")
    assert_problem(response, parameter, reason)


@pytest.mark.parametrize(
    ("query", "parameter", "reason"), [q for q in BAD_OFFSET_LIMIT if q[1] == "limit"]
)
def test_bad_limit_on_a_keyset_listing(
    sqlite_db: Database, client_for: Any, query: str, parameter: str, reason: str
) -> None:
    response = client_for(sqlite_db).get(f"/items-keyset?{query}")
    assert_problem(response, parameter, reason)


@pytest.mark.parametrize(("query", "parameter", "reason"), BAD_OFFSET_LIMIT)
def test_bad_input_without_the_plugin_is_still_a_400(
    sqlite_db: Database, client_for: Any, query: str, parameter: str, reason: str
) -> None:
    response = client_for(sqlite_db, pagination=False).get(f"/items-undeclared?{query}")
    assert_problem(response, parameter, reason)


def _cursor(client: Any, path: str = "/items-keyset") -> str:
    return query_of(links(client.get(f"{path}?limit=5"))["next"])["cursor"][0]


def _tampered(cursor: str) -> str:
    """The same cursor with its payload changed (another position), signature kept."""
    payload, signature = cursor.rsplit(".", 1)
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["k"][0] = 0
    changed = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{changed}.{signature}"


FORGED = "is not a cursor this service issued (forged, altered or truncated)"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda cursor: cursor[:-5], FORGED),  # truncated signature
        (lambda cursor: cursor[: len(cursor) // 2], FORGED),  # truncated in the payload
        (lambda cursor: cursor.replace(".", ""), FORGED),
        (lambda cursor: "A" + cursor[1:] if cursor[0] != "A" else "B" + cursor[1:], FORGED),
        (_tampered, FORGED),
        (lambda cursor: "not-a-cursor", FORGED),
        (lambda cursor: "", "must not be empty"),
        (lambda cursor: "x" * 3000, "must be at most 2048 characters long"),
    ],
)
def test_forged_or_truncated_cursor(
    sqlite_db: Database, client_for: Any, make: Any, reason: str
) -> None:
    client = client_for(sqlite_db)
    cursor = make(_cursor(client))
    for path in ("/items-keyset", "/items-keyset-query"):
        response = client.get(path, params={"cursor": cursor})
        assert_problem(response, "cursor", reason)


def test_cursor_of_a_listing_sorted_another_way(sqlite_db: Database, client_for: Any) -> None:
    client = client_for(sqlite_db)
    cursor = _cursor(client, "/items-keyset-mixed")
    response = client.get("/items-keyset", params={"cursor": cursor})
    assert_problem(response, "cursor", "belongs to a listing sorted another way")


def test_cursor_signed_with_another_secret(sqlite_db: Database, client_for: Any) -> None:
    first = client_for(sqlite_db, settings={"pagination": {"cursor_secret": "a" * 32}})
    replica = client_for(sqlite_db, settings={"pagination": {"cursor_secret": "a" * 32}})
    other = client_for(sqlite_db, settings={"pagination": {"cursor_secret": "b" * 32}})
    cursor = _cursor(first)
    assert replica.get("/items-keyset", params={"cursor": cursor}).status_code == 200
    assert_problem(other.get("/items-keyset", params={"cursor": cursor}), "cursor", FORGED)


def test_cursor_on_an_offset_listing(sqlite_db: Database, client_for: Any) -> None:
    client = client_for(sqlite_db)
    cursor = _cursor(client)
    for path in ("/items", "/items-undeclared", "/items-list"):
        response = client.get(path, params={"cursor": cursor})
        assert_problem(response, "cursor", "is not supported here")


def test_offset_on_a_keyset_listing(sqlite_db: Database, client_for: Any) -> None:
    response = client_for(sqlite_db).get("/items-keyset?offset=25")
    assert_problem(response, "offset", "is not supported here")


def test_max_offset_points_to_cursors(sqlite_db: Database, client_for: Any) -> None:
    client = client_for(sqlite_db, settings={"pagination": {"max_offset": 1000}})
    assert client.get("/items?offset=1000").status_code == 200
    response = client.get("/items?offset=1001")
    assert_problem(response, "offset", "must be at most 1000; page deeper with a cursor")


def test_errors_are_problems_inside_the_envelope_too(sqlite_db: Database, client_for: Any) -> None:
    client = client_for(sqlite_db, settings={"envelope": {"enabled": True}})
    assert_problem(client.get("/items?limit=0"), "limit", "must be at least 1")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"default_limit": 200}, "default_limit (200) must not exceed max_limit (100)"),
        ({"max_limit": 0}, "greater than or equal to 1"),
        ({"cursor_secret": "short"}, "cursor_secret must be at least 16 characters"),
        ({"page_size": 10}, "CHASSIS_PAGINATION__PAGE_SIZE"),
    ],
)
def test_bad_settings_stop_start_up(make_chassis_app: Any, section: Any, message: str) -> None:
    with pytest.raises(chassis.SettingsError, match="pagination") as error:
        make_chassis_app(
            settings={"pagination": section}, plugins={"pagination": chassis_pagination}
        )
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_limit": 0}, "max_limit"),
        ({"default_limit": 50, "max_limit": 10}, "default_limit (50) must not exceed"),
        ({"page_size": 3}, "page_size"),
        ("yes", "valid dictionary"),
    ],
)
def test_bad_operation_options_stop_start_up(
    sqlite_db: Database, make_app: Any, monkeypatch: Any, options: Any, message: str
) -> None:
    document = spec()
    document["paths"]["/items"]["get"]["x-chassis-pagination"] = options
    # The factory's own module globals: several conftest modules share the name "conftest".
    monkeypatch.setitem(make_app.__globals__, "spec", lambda: document)
    app = make_app(sqlite_db)
    with pytest.raises(ValueError, match="x-chassis-pagination") as error, app.test_client():
        pass
    assert "GET /items (items_select)" in str(error.value)
    assert message in str(error.value)


def _secret_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "CURSOR_SECRET" in r.getMessage()]


def test_a_random_cursor_secret_is_warned_about_at_start_up(
    sqlite_db: Database, client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="chassis.pagination")
    client_for(sqlite_db)  # the test API has operations that take a cursor
    (warning,) = _secret_warnings(caplog)
    assert "takes a cursor" in warning
    assert "other processes (workers, replicas)" in warning


def test_no_warning_with_a_cursor_secret(
    sqlite_db: Database, client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="chassis.pagination")
    client = client_for(sqlite_db, settings={"pagination": {"cursor_secret": "s" * 32}})
    assert client.get("/items-keyset").status_code == 200
    assert _secret_warnings(caplog) == []
    assert "s" * 32 not in caplog.text


def test_a_spec_limit_maximum_that_disagrees_is_warned_about(
    sqlite_db: Database, client_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="chassis.pagination")
    client_for(sqlite_db, settings={"pagination": {"max_limit": 300}})
    warnings = [
        r.getMessage() for r in caplog.records if "declares limit maximum" in r.getMessage()
    ]
    assert any(
        w.startswith(
            "GET /items (items_select) declares limit maximum 100 but its max_limit is 300"
        )
        for w in warnings
    )
