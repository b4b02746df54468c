"""Compression: negotiation, round trips, what is never compressed, Vary, per-route switches."""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any

import brotli
import optimizer_views
import pytest
import zstandard
from optimizer_support import AppMaker

IDENTITY = {"Accept-Encoding": "identity"}


def decode(response: Any) -> bytes:
    """The raw body, decoded by hand according to its Content-Encoding."""
    raw = response.read() if hasattr(response, "read") else response.content
    coding = response.headers.get("content-encoding")
    if coding == "zstd":
        return zstandard.ZstdDecompressor().decompress(raw)
    if coding == "br":
        return brotli.decompress(raw)
    if coding == "gzip":
        return gzip.decompress(raw)
    assert coding is None, coding
    return raw


def asgi_get(
    app: Any, path: str, headers: list[tuple[bytes, bytes]]
) -> tuple[int, dict[bytes, bytes], bytes]:
    """One GET straight through the ASGI app, with exactly these headers."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), body


def raw_get(client: Any, path: str, headers: dict[str, str]) -> tuple[Any, bytes]:
    """GET without httpx decoding the body: (response, body bytes as sent)."""
    with client.stream("GET", path, headers=headers) as response:
        body = b"".join(response.iter_raw())
    return response, body


@pytest.mark.parametrize("coding", ["zstd", "br", "gzip"])
def test_round_trip_gives_the_same_json(client: Any, coding: str) -> None:
    plain = client.get("/items", headers=IDENTITY)
    assert plain.headers.get("content-encoding") is None

    response, body = raw_get(client, "/items", {"Accept-Encoding": coding})

    assert response.status_code == 200
    assert response.headers["content-encoding"] == coding
    assert int(response.headers["content-length"]) == len(body) < len(plain.content) / 3
    decoded = {"zstd": zstandard.ZstdDecompressor().decompress, "br": brotli.decompress}.get(
        coding, gzip.decompress
    )(body)
    assert json.loads(decoded) == json.loads(plain.content) == optimizer_views.ITEMS
    assert "accept-encoding" in response.headers["vary"].lower()


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("gzip", "gzip"),
        ("br", "br"),
        ("zstd", "zstd"),
        ("gzip, br, zstd", "zstd"),  # equal ratings: the server's preference
        ("gzip, deflate, br", "br"),
        ("gzip;q=1.0, br;q=0.5, zstd;q=0.8", "gzip"),
        ("br;q=0.2, gzip;q=0.9", "gzip"),
        ("zstd;q=0, br;q=0, gzip", "gzip"),
        ("zstd;q=0, br;q=0, gzip;q=0", None),
        ("*", "zstd"),
        ("*;q=0.5, gzip", "gzip"),
        ("*, zstd;q=0", "br"),
        ("*;q=0", None),
        ("identity", None),
        ("gzip;q=0.5, identity", None),  # identity rated higher than every coding
        ("gzip, identity;q=0", "gzip"),
        ("GZIP", "gzip"),
        (" gzip ; q=0.7 , br ; Q=0.9 ", "br"),
        ("deflate, compress", None),
        ("", None),
    ],
)
def test_negotiation_honours_q_values(client: Any, accept: str, expected: str | None) -> None:
    response = client.get("/items", headers={"Accept-Encoding": accept})

    assert response.status_code == 200
    assert response.headers.get("content-encoding") == expected
    assert response.json() == optimizer_views.ITEMS


def test_no_accept_encoding_means_no_compression(make_app: AppMaker) -> None:
    status, headers, body = asgi_get(make_app(), "/items", [])

    assert status == 200
    assert b"content-encoding" not in headers
    assert headers[b"vary"] == b"Accept-Encoding"
    assert json.loads(body) == optimizer_views.ITEMS


@pytest.mark.parametrize(
    "accept",
    [
        "gzip;q=abc",
        "gzip;q=",
        "gzip;q=1.5, br;q=-1",
        ";;;,,,",
        "q=1",
        "gzip;;q=0.5",
        "\x7f\x01gzip",
        "br;q=0.5;q=0.9",
        "x" * 10_000,
        ", ".join(f"coding{number}" for number in range(2000)),
        "gzip;level=9",
    ],
)
def test_malformed_accept_encoding_never_errors(client: Any, accept: str) -> None:
    response = client.get("/items", headers={"Accept-Encoding": accept})

    assert response.status_code == 200
    assert response.json() == optimizer_views.ITEMS


def test_invalid_q_ignores_only_that_coding(client: Any) -> None:
    response = client.get("/items", headers={"Accept-Encoding": "zstd;q=2, gzip;q=0.4"})
    assert response.headers["content-encoding"] == "gzip"


def test_small_bodies_are_sent_as_they_are(client: Any) -> None:
    response = client.get("/small", headers={"Accept-Encoding": "gzip"})

    assert response.headers.get("content-encoding") is None
    assert "vary" not in response.headers
    assert response.json() == {"ok": True}


def test_min_size_is_a_setting(make_app: AppMaker) -> None:
    with make_app({"compress_min_size": 5}).test_client() as client:
        response = client.get("/small", headers={"Accept-Encoding": "gzip"})
    # A tiny body would grow when compressed: it is then sent as it is, still with Vary.
    assert response.headers.get("content-encoding") is None
    assert response.headers["vary"] == "Accept-Encoding"

    with make_app({"compress_min_size": 20_000}).test_client() as client:
        response = client.get("/items", headers={"Accept-Encoding": "gzip"})
    assert response.headers.get("content-encoding") is None


def test_csv_and_html_are_compressed(client: Any) -> None:
    for path in ("/csv", "/page"):
        response, body = raw_get(client, path, {"Accept-Encoding": "br"})
        assert response.headers["content-encoding"] == "br", path
        assert brotli.decompress(body).startswith((b"id,address", b"<!doctype", b"<!DOCTYPE"))


def test_event_streams_and_unsized_streams_pass_through(client: Any) -> None:
    response, body = raw_get(client, "/stream", {"Accept-Encoding": "gzip, br, zstd"})
    assert response.headers.get("content-encoding") is None
    assert body.count(b"data: ") == 50

    response, body = raw_get(client, "/chunked", {"Accept-Encoding": "gzip, br, zstd"})
    assert response.headers.get("content-encoding") is None
    assert "content-length" not in response.headers
    assert [json.loads(line)["id"] for line in body.splitlines()] == list(range(1, 101))


def test_already_encoded_responses_are_left_alone(client: Any) -> None:
    response, body = raw_get(client, "/encoded", {"Accept-Encoding": "zstd, br"})

    assert response.headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(body)) == optimizer_views.ITEMS


def test_head_gets_the_encoding_of_get(client: Any) -> None:
    """HEAD sends the header fields of GET: the body is compressed, then dropped (more in
    test_optimizer_http_semantics)."""
    get = client.get("/items", headers={"Accept-Encoding": "gzip"})
    head = client.head("/items", headers={"Accept-Encoding": "gzip"})

    assert head.status_code == 200
    assert head.headers["content-encoding"] == "gzip"
    assert head.content == b""
    assert "accept-encoding" in head.headers["vary"].lower()
    assert head.headers["content-length"] == get.headers["content-length"]


def test_no_content_is_untouched(client: Any) -> None:
    response = client.get("/no-content", headers={"Accept-Encoding": "gzip"})

    assert response.status_code == 204
    assert response.content == b""
    assert response.headers.get("content-encoding") is None


def test_error_responses_are_compressed(make_app: AppMaker) -> None:
    with make_app({"compress_min_size": 100}).test_client() as client:
        response, body = raw_get(client, "/fail", {"Accept-Encoding": "gzip"})
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["content-encoding"] == "gzip"
        problem = json.loads(gzip.decompress(body))
        assert problem["status"] == 500
        assert "boom" not in json.dumps(problem)

        response, body = raw_get(client, "/items?limit=abc", {"Accept-Encoding": "zstd"})
        assert response.status_code == 400
        assert response.headers["content-encoding"] == "zstd"
        assert json.loads(zstandard.ZstdDecompressor().decompress(body))["status"] == 400


def test_vary_is_appended_to_cors_vary(make_app: AppMaker) -> None:
    settings = {"cors": {"enabled": True, "allow_origins": ["https://app.example"]}}
    app = make_app(settings=settings)
    with app.test_client() as client:
        response = client.get(
            "/items", headers={"Accept-Encoding": "gzip", "Origin": "https://app.example"}
        )
        language = client.get(
            "/language", headers={"Accept-Encoding": "gzip", "Origin": "https://app.example"}
        )

    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    varies = [name.strip().lower() for name in response.headers["vary"].split(",")]
    assert sorted(varies) == ["accept-encoding", "origin"]
    varies = [name.strip().lower() for name in language.headers["vary"].split(",")]
    assert sorted(varies) == ["accept-encoding", "accept-language", "origin"]


def test_levels_come_from_settings(make_app: AppMaker) -> None:
    sizes = {}
    for level in (1, 9):
        with make_app({"gzip_level": level}).test_client() as client:
            _response, body = raw_get(client, "/csv", {"Accept-Encoding": "gzip"})
        sizes[level] = len(body)
        assert gzip.decompress(body).startswith(b"id,address")
    assert sizes[9] < sizes[1]


def test_offered_codings_come_from_settings(make_app: AppMaker) -> None:
    with make_app({"compress_algorithms": "gzip"}).test_client() as client:
        assert (
            client.get("/items", headers={"Accept-Encoding": "zstd, br, gzip;q=0.1"}).headers[
                "content-encoding"
            ]
            == "gzip"
        )
        assert (
            "content-encoding"
            not in client.get("/items", headers={"Accept-Encoding": "zstd, br"}).headers
        )


def test_per_route_switches(make_app: AppMaker) -> None:
    accept = {"Accept-Encoding": "gzip"}
    with make_app().test_client() as client:
        assert "content-encoding" not in client.get("/uncompressed", headers=accept).headers
        assert "content-encoding" not in client.get("/uncompressed-plus", headers=accept).headers
        # The spec wins over the handler's @do_compress.
        assert "content-encoding" not in client.get("/spec-uncached", headers=accept).headers
        assert client.get("/items", headers=accept).headers["content-encoding"] == "gzip"

    with make_app({"compress": False}).test_client() as client:
        assert "content-encoding" not in client.get("/items", headers=accept).headers
        assert client.get("/compressed", headers=accept).headers["content-encoding"] == "gzip"
        response = client.get("/compressed", headers=accept)
        assert response.json() == optimizer_views.ITEMS


def test_response_validation_sees_the_uncompressed_body(make_app: AppMaker) -> None:
    with make_app(validate_responses=True).test_client() as client:
        response = client.get("/items", headers={"Accept-Encoding": "zstd"})

    assert response.status_code == 200
    assert response.headers["content-encoding"] == "zstd"
    assert response.json() == optimizer_views.ITEMS


def test_excluded_paths_are_untouched(make_app: AppMaker) -> None:
    with make_app({"exclude_paths": ["/it*"]}).test_client() as client:
        response = client.get("/items", headers={"Accept-Encoding": "gzip"})
        csv = client.get("/csv", headers={"Accept-Encoding": "gzip"})

    assert "content-encoding" not in response.headers
    assert "etag" not in response.headers
    assert csv.headers["content-encoding"] == "gzip"
