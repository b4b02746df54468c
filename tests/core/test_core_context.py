"""Request ids in and out, and chassis.current_context in views, async code and threads."""

from __future__ import annotations

import re

import chassis
import pytest

GENERATED = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def client(make_chassis_app, spec):
    app = make_chassis_app(spec=spec, settings={"context_class": "core_handlers:Ctx"})
    with app.test_client() as client:
        yield client


def test_a_valid_incoming_request_id_is_kept_and_echoed(client):
    response = client.get("/context", headers={"X-Request-ID": "abc-123_:/x"})
    assert response.headers["x-request-id"] == "abc-123_:/x"
    assert response.json()["request_id"] == "abc-123_:/x"


def test_a_request_id_is_generated_when_absent(client):
    response = client.get("/context")
    assert GENERATED.match(response.headers["x-request-id"])
    assert response.json()["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    "bad",
    [
        "x" * 129,
        "has space",
        "tab\there",
        "ünïcode",
        "semi;ok but\x7f",
        "x][CRITICAL][payments.ledger]",
        'quote"d',
    ],
    ids=["too-long", "space", "tab", "non-ascii", "control", "log-fields", "quote"],
)
def test_a_malformed_request_id_is_replaced(client, bad):
    response = client.get("/context", headers={"X-Request-ID": bad.encode("utf-8")})
    assert response.status_code == 200
    assert GENERATED.match(response.headers["x-request-id"])


@pytest.mark.parametrize(
    "good",
    [
        "6f1c1a0e-8b7d-4e1b-9a55-1f0e4c2b9d11",
        "01HZX3J8Q5M7ZK9V2B6N4C8D0E",
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "abc+/=~_.:@-def",
    ],
)
def test_common_request_id_formats_are_kept(client, good):
    assert client.get("/context", headers={"X-Request-ID": good}).headers["x-request-id"] == good


def test_a_request_id_cannot_forge_log_fields(client, capsys):
    client.get("/context", headers={"X-Request-ID": "x][CRITICAL][payments.ledger]"})
    out = capsys.readouterr().out
    assert "[CRITICAL][payments.ledger]" not in out


def test_longest_valid_request_id_is_kept(client):
    rid = "r" * 128
    assert client.get("/context", headers={"X-Request-ID": rid}).headers["x-request-id"] == rid


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/items/0", 400),
        ("GET", "/private", 401),
        ("GET", "/nope", 404),
        ("PUT", "/items/1", 405),
        ("GET", "/boom", 500),
        ("GET", "/healthz", 200),
    ],
)
def test_every_response_echoes_the_request_id(client, method, path, status):
    response = client.request(method, path, headers={"X-Request-ID": "trace-me"})
    assert response.status_code == status
    assert response.headers["x-request-id"] == "trace-me"


def test_context_in_a_sync_handler_thread(client, app_class):
    body = client.get("/context", headers={"X-Request-ID": "ctx-1"}).json()
    # Flask views run in a2wsgi's pool, AsyncApp's sync handlers in anyio's.
    assert body["thread"].startswith("WSGI" if app_class is chassis.App else "AnyIO")
    assert body["operation_id"] == "core_handlers.show_context"
    assert body["route"] == "/context"
    assert body["user"] is None
    assert body["custom"] == "custom-ok"


def test_context_in_an_async_handler(client):
    body = client.get("/async-context", headers={"X-Request-ID": "ctx-2"}).json()
    assert body["request_id"] == "ctx-2"
    assert body["operation_id"] == "core_handlers.show_context_async"


def test_user_and_token_info_when_authenticated(client):
    body = client.get("/private", headers={"Authorization": "Bearer good"}).json()
    assert body["user"] == "alice"
    assert body["token_info"] == {"sub": "alice", "scope": ["read"]}
    assert body["route"] == "/private"


def test_outgoing_headers_carry_the_request_id(client):
    body = client.get("/context", headers={"X-Request-ID": "next-hop"}).json()
    assert body["outgoing"] == {"Accept": "application/json", "X-Request-ID": "next-hop"}


def test_outgoing_headers_keep_an_id_the_caller_set_in_any_case(client):
    body = client.get("/outgoing", headers={"X-Request-ID": "incoming"}).json()
    assert body == {"x-request-id": "caller-chose-this"}


def test_request_id_header_name_is_a_setting(make_chassis_app, spec):
    app = make_chassis_app(spec=spec, settings={"request_id_header": "X-Correlation-ID"})
    with app.test_client() as client:
        response = client.get("/context", headers={"X-Correlation-ID": "corr-1"})
    assert response.headers["x-correlation-id"] == "corr-1"
    assert "x-request-id" not in response.headers


def test_current_context_outside_a_request_says_so():
    assert not chassis.current_context
    assert chassis.outgoing_headers({"A": "b"}) == {"A": "b"}
    with pytest.raises(RuntimeError, match="outside a request"):
        _ = chassis.current_context.request_id
