"""HTTP semantics, asserted on what the app sends (status, header fields, body bytes):

* HEAD answers with the header fields GET would send (RFC 9110 §9.3.2): ETag,
  Content-Encoding, Content-Length of the encoded body, Vary, Cache-Control, a 304 for a
  matching If-None-Match; with the response cache too, which a HEAD never fills.
* With the envelope on, every body carries its request id: the ETag is weak, computed without
  it, so conditional requests get their 304.
* A response whose Content-Encoding is ``identity`` is compressed with the coding replacing it.
"""

from __future__ import annotations

import gzip
import json
import socket
import time

import brotli
import optimizer_views
import orjson
import pytest
import zstandard
from chassis_optimizer import get_optimizer
from chassis_optimizer._cache import (
    REQUEST_ID_WINDOW,
    body_etag,
    strong_etag,
    without_request_id,
)
from optimizer_support import AppMaker, Sent, Settings, serving, wire_client

IDENTITY = {"Accept-Encoding": "identity"}
GZIP = {"Accept-Encoding": "gzip"}
ENVELOPE = {"envelope": {"enabled": True}}


def decoded(sent: Sent) -> bytes:
    coding = sent.header("content-encoding")
    if coding == "gzip":
        return gzip.decompress(sent.body)
    if coding == "br":
        return bytes(brotli.decompress(sent.body))
    if coding == "zstd":
        return bytes(zstandard.ZstdDecompressor().decompress(sent.body))
    assert coding in (None, "identity"), coding
    return sent.body


def cache_status(sent: Sent) -> str:
    value = sent.header("cache-status")
    assert value is not None
    return value


# -- HEAD ---------------------------------------------------------------------------------


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd", "identity"])
@pytest.mark.parametrize("path", ["/items", "/page", "/csv", "/identity"])
def test_head_sends_the_header_fields_of_get(make_app: AppMaker, path: str, coding: str) -> None:
    with wire_client(make_app()) as wire:
        get = wire.get(path, {"Accept-Encoding": coding})
        head = wire.head(path, {"Accept-Encoding": coding})

    assert head.status == get.status == 200
    assert head.body == b""
    assert head.fields() == get.fields()
    assert head.header("etag") is not None
    assert head.header("content-length") == str(len(get.body))
    assert "accept-encoding" in (head.header("vary") or "").lower()
    if coding != "identity":
        assert head.header("content-encoding") == coding


def test_conditional_head_gets_304_like_get(make_app: AppMaker) -> None:
    with wire_client(make_app()) as wire:
        tag = wire.get("/items", GZIP).header("etag")
        assert tag is not None
        for if_none_match in (tag, tag.replace('-gzip"', '"'), f'"other", {tag}', "*"):
            conditional = {**GZIP, "If-None-Match": if_none_match}
            get = wire.get("/items", conditional)
            head = wire.head("/items", conditional)

            assert head.status == get.status == 304
            assert head.body == get.body == b""
            assert head.fields() == get.fields()
            assert head.header("etag") == tag
        stale = wire.head("/items", {**GZIP, "If-None-Match": '"stale"'})

    assert stale.status == 200
    assert stale.header("etag") == tag


@pytest.mark.parametrize(("path", "expected"), [("/fail", 500), ("/nope", 404)])
def test_head_of_an_error_is_the_get_error_without_its_body(
    make_app: AppMaker, path: str, expected: int
) -> None:
    # The same request id both times: problem+json bodies carry it.
    headers = {**GZIP, "X-Request-ID": "same-id"}
    with wire_client(make_app({"compress_min_size": 100})) as wire:
        get = wire.get(path, headers)
        head = wire.head(path, headers)

    assert head.status == get.status == expected
    assert head.body == b""
    assert head.fields() == get.fields()
    assert head.header("content-encoding") == get.header("content-encoding")
    if expected == 500:  # a body long enough to compress (AsyncApp's 404 is not)
        assert head.header("content-encoding") == "gzip"
    assert head.header("content-length") == str(len(get.body))


@pytest.mark.parametrize("path", ["/stream", "/chunked"])
def test_head_of_a_stream_sends_the_header_fields_of_get(make_app: AppMaker, path: str) -> None:
    with wire_client(make_app()) as wire:
        get = wire.get(path, GZIP)
        head = wire.head(path, GZIP)

    assert get.body
    assert head.status == get.status == 200
    assert head.body == b""
    assert head.fields() == get.fields()
    assert head.header("content-length") is None
    assert head.header("content-encoding") is None


def test_head_of_a_body_too_large_to_buffer(make_app: AppMaker) -> None:
    """Over ``compress_max_size`` a GET body passes through as it is; so does the HEAD's
    header fields (Flask does not even send its body)."""
    with wire_client(make_app({"compress_max_size": 1000})) as wire:
        get = wire.get("/items", GZIP)
        head = wire.head("/items", GZIP)

    assert json.loads(get.body) == optimizer_views.ITEMS
    assert head.status == get.status == 200
    assert head.body == b""
    assert head.fields() == get.fields()
    assert head.header("content-length") == str(len(get.body))


def test_head_never_runs_a_stream(make_app: AppMaker) -> None:
    """A HEAD is run as a GET inside the app, but a streamed body (here: events for 20 s) is
    never produced: Flask drops it as for any HEAD, and under AsyncApp the stream is told the
    client left once the header fields are out."""
    with wire_client(make_app()) as wire:
        started = time.monotonic()
        head = wire.head("/endless", GZIP)
        elapsed = time.monotonic() - started

    assert head.status == 200
    assert head.body == b""
    assert (head.header("content-type") or "").startswith("text/event-stream")
    # None under chassis.App; under chassis.AsyncApp the stream's first event may have been
    # made while the header fields went out, then the stream is stopped.
    assert optimizer_views.calls["endless_chunks"] <= 1
    assert elapsed < 5


def test_head_operation_of_the_spec_still_answers_heads(make_app: AppMaker) -> None:
    """A path whose spec has its own HEAD operation: it answers (no body to work on), the
    optimizer adds what it can (304 on its ETag)."""
    with wire_client(make_app()) as wire:
        head = wire.head("/probe", GZIP)
        conditional = wire.head("/probe", {**GZIP, "If-None-Match": '"probe"'})

    assert optimizer_views.calls["probe_head"] == 2
    assert optimizer_views.calls["probe_get"] == 0
    assert (head.status, head.header("x-probe"), head.body) == (200, "head", b"")
    assert head.header("etag") == '"probe"'
    assert (conditional.status, conditional.body) == (304, b"")


@pytest.mark.parametrize("coding", ["gzip", "zstd", "identity"])
def test_head_and_the_response_cache(make_app: AppMaker, cache: Settings, coding: str) -> None:
    accept = {"Accept-Encoding": coding}
    with wire_client(make_app(cache())) as wire:
        head_miss = wire.head("/cached", accept)
        get_miss = wire.get("/cached", accept)
        get_hit = wire.get("/cached", accept)
        head_hit = wire.head("/cached", accept)
        tag = get_hit.header("etag")
        assert tag is not None
        conditional_get = wire.get("/cached", {**accept, "If-None-Match": tag})
        conditional_head = wire.head("/cached", {**accept, "If-None-Match": tag})

    # The HEAD ran the view and stored nothing: the GET after it stores the whole body.
    assert optimizer_views.calls["cached_items"] == 2
    assert cache_status(head_miss) == "chassis; fwd=uri-miss"
    assert cache_status(get_miss) == "chassis; fwd=uri-miss; stored"
    assert json.loads(decoded(get_miss)) == optimizer_views.ITEMS
    assert json.loads(decoded(get_hit)) == optimizer_views.ITEMS
    assert cache_status(head_hit).startswith("chassis; hit")
    for head, get in ((head_miss, get_miss), (head_hit, get_hit)):
        assert head.status == get.status == 200
        assert head.body == b""
        assert head.fields("cache-status") == get.fields("cache-status")
        assert head.header("etag") == tag
        assert head.header("cache-control") == "public, max-age=60"
        assert head.header("content-length") == str(len(get.body))
        expected = None if coding == "identity" else coding
        assert head.header("content-encoding") == expected
    for conditional in (conditional_get, conditional_head):
        assert (conditional.status, conditional.body) == (304, b"")
        assert conditional.header("etag") == tag
        assert cache_status(conditional).startswith("chassis; hit")
    assert conditional_head.fields() == conditional_get.fields()


def test_head_first_never_stores_an_empty_body(make_app: AppMaker, cache: Settings) -> None:
    """Two instances (workers) sharing the cache: a HEAD miss on one stores nothing, so a GET
    on the other stores and serves the whole body."""
    first, second = make_app(cache()), make_app(cache())
    with wire_client(first) as one, wire_client(second) as two:
        one.head("/cached", GZIP)
        one.head("/cached", IDENTITY)
        stored = two.get("/cached", GZIP)
        hit = one.get("/cached", IDENTITY)

    assert cache_status(stored) == "chassis; fwd=uri-miss; stored"
    assert json.loads(decoded(stored)) == optimizer_views.ITEMS
    if "cache_url" in cache():  # one Redis: the other instance's entry
        assert cache_status(hit).startswith("chassis; hit")
    assert json.loads(hit.body) == optimizer_views.ITEMS


def _raw_exchange(base: str, request: bytes) -> tuple[bytes, bytes]:
    """(status line and header block, every byte after it) of one request on a socket."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    return head, rest


def test_head_on_a_real_server(make_app: AppMaker) -> None:
    with serving(make_app()) as base:
        get_head, get_body = _raw_exchange(
            base,
            b"GET /items HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
        )
        head_head, head_body = _raw_exchange(
            base,
            b"HEAD /items HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
        )

    def fields(block: bytes) -> dict[str, str]:
        lines = block.decode("latin-1").split("\r\n")[1:]
        pairs = (line.split(":", 1) for line in lines)
        skip = {"date", "x-request-id"}
        return {name.lower(): value.strip() for name, value in pairs if name.lower() not in skip}

    assert head_head.split(b"\r\n")[0] == get_head.split(b"\r\n")[0] == b"HTTP/1.1 200 OK"
    assert fields(head_head) == fields(get_head)
    assert fields(head_head)["content-length"] == str(len(get_body))
    assert fields(head_head)["content-encoding"] == "gzip"
    assert head_body == b""


# -- the envelope ---------------------------------------------------------------------------


def test_envelope_conditional_get_gets_304(make_app: AppMaker) -> None:
    with wire_client(make_app(settings=ENVELOPE)) as wire:
        first = wire.get("/items", GZIP)
        second = wire.get("/items", GZIP)
        tag = first.header("etag")
        assert tag is not None
        conditional = wire.get("/items", {**GZIP, "If-None-Match": tag})
        conditional_head = wire.head("/items", {**GZIP, "If-None-Match": tag})
        plain = wire.get("/items", {**IDENTITY, "If-None-Match": tag})
        other = wire.get("/items?limit=3", GZIP)

    body = json.loads(decoded(first))
    assert body["meta"]["request_id"] == first.header("x-request-id")
    assert body["data"] == optimizer_views.ITEMS
    assert json.loads(decoded(second))["meta"]["request_id"] == second.header("x-request-id")
    assert first.header("x-request-id") != second.header("x-request-id")

    # Bytes differ, content does not: one weak tag (its gzip form), RFC 9110 §8.8.1.
    assert tag.startswith('W/"') and tag.endswith('-gzip"')
    assert second.header("etag") == tag
    for response in (conditional, conditional_head, plain):
        assert (response.status, response.body) == (304, b"")
        assert response.header("x-request-id") not in (None, first.header("x-request-id"))
    assert conditional.header("etag") == conditional_head.header("etag") == tag
    assert plain.header("etag") == tag.removesuffix('-gzip"') + '"'
    assert other.status == 200
    assert other.header("etag") != tag


def test_envelope_head_sends_the_header_fields_of_get(make_app: AppMaker) -> None:
    headers = {**GZIP, "X-Request-ID": "one-id"}  # the same body bytes, so the same length
    with wire_client(make_app(settings=ENVELOPE)) as wire:
        get = wire.get("/items", headers)
        head = wire.head("/items", headers)

    assert head.body == b""
    assert head.fields() == get.fields()
    assert (head.header("etag") or "").startswith('W/"')


def test_envelope_bodies_keep_their_own_request_id(make_app: AppMaker) -> None:
    """Compressed bodies are remembered by their strong tag only: a weak tag is shared by
    bodies that differ (their request ids), so none is served another's body."""
    with wire_client(make_app(settings=ENVELOPE)) as wire:
        responses = [wire.get("/items", GZIP) for _ in range(3)]

    assert len({response.header("etag") for response in responses}) == 1
    for response in responses:
        assert json.loads(decoded(response))["meta"]["request_id"] == response.header(
            "x-request-id"
        )


@pytest.mark.parametrize("ids", [("a/b+c=", "x@y:z~"), ("1", "2"), ("request_id", "meta")])
def test_envelope_validator_with_request_ids_of_the_client(
    make_app: AppMaker, ids: tuple[str, str]
) -> None:
    with wire_client(make_app(settings=ENVELOPE)) as wire:
        one = wire.get("/items?limit=5", {**IDENTITY, "X-Request-ID": ids[0]})
        two = wire.get("/items?limit=5", {**IDENTITY, "X-Request-ID": ids[1]})
        other = wire.get("/items?limit=6", {**IDENTITY, "X-Request-ID": ids[0]})

    assert json.loads(one.body)["meta"]["request_id"] == ids[0]
    assert (one.header("etag") or "").startswith('W/"')
    assert one.header("etag") == two.header("etag")
    assert other.header("etag") != one.header("etag")


def test_envelope_and_the_response_cache(make_app: AppMaker, cache: Settings) -> None:
    with wire_client(make_app(cache(), settings=ENVELOPE)) as wire:
        stored = wire.get("/cached", GZIP)
        tag = stored.header("etag")
        assert tag is not None
        hit = wire.get("/cached", GZIP)
        conditional = wire.get("/cached", {**GZIP, "If-None-Match": tag})
        conditional_head = wire.head("/cached", {**GZIP, "If-None-Match": tag})
        head = wire.head("/cached", GZIP)
        uncached = wire.get("/items", GZIP)  # the same data through a route not cached

    assert optimizer_views.calls["cached_items"] == 1
    assert cache_status(stored) == "chassis; fwd=uri-miss; stored"
    assert cache_status(hit).startswith("chassis; hit")
    assert tag.startswith('W/"')
    assert hit.header("etag") == head.header("etag") == uncached.header("etag") == tag
    # A hit serves the stored body: the request id of the request that filled it.
    assert json.loads(decoded(hit)) == json.loads(decoded(stored))
    assert json.loads(decoded(stored))["meta"]["request_id"] == stored.header("x-request-id")
    for response in (conditional, conditional_head):
        assert (response.status, response.body) == (304, b"")
        assert response.header("etag") == tag
        assert response.header("x-request-id")
        assert cache_status(response).startswith("chassis; hit")
    assert head.header("content-length") == str(len(hit.body))


def test_envelope_hits_are_compressed_once(make_app: AppMaker, cache: Settings) -> None:
    """Hits serve the same bytes: their compressed form is remembered by the strong tag of
    those bytes, kept in the entry (the weak tag would not tell bodies apart)."""
    app = make_app(cache(), settings=ENVELOPE)
    optimizer = get_optimizer(app)
    assert optimizer is not None
    compress, compressed = optimizer.compressors["gzip"], []

    def counting(body: bytes) -> bytes:
        compressed.append(body)
        return compress(body)

    optimizer.compressors["gzip"] = counting
    with wire_client(app) as wire:
        responses = [wire.get("/cached", GZIP) for _ in range(3)]

    assert [cache_status(r).split(";")[1].strip() for r in responses] == [
        "fwd=uri-miss",
        "hit",
        "hit",
    ]
    assert len(compressed) == 1
    assert len({decoded(response) for response in responses}) == 1


def test_envelope_indented_bodies_get_weak_tags(make_app: AppMaker) -> None:
    with wire_client(make_app(settings=ENVELOPE)) as wire:
        one, two = (wire.get("/pretty", IDENTITY) for _ in range(2))

    assert b'"request_id": "' in one.body
    assert (one.header("etag") or "").startswith('W/"')
    assert one.header("etag") == two.header("etag")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"meta":{"request_id":"ab"},"data":1}', b'{"meta":{"request_id":},"data":1}'),
        (
            b'{"meta": {"request_id" :\n "ab"}, "data": 1}',
            b'{"meta": {"request_id" :\n }, "data": 1}',
        ),
        # Only the JSON member: not a longer id, not a string holding it, the first one.
        (
            b'{"request_id":"abc","x":{"request_id":"ab"}}',
            b'{"request_id":"abc","x":{"request_id":}}',
        ),
        (b'{"note":"\\"request_id\\":\\"ab\\"","d":1}', None),
        (b'{"request_id":"ab","request_id":"ab"}', b'{"request_id":,"request_id":"ab"}'),
        (b'{"id":"ab"}', None),
    ],
)
def test_without_request_id(body: bytes, expected: bytes | None) -> None:
    assert without_request_id(body, "ab") == expected


def test_request_id_is_looked_for_where_the_envelope_writes_it() -> None:
    """In the first and last bytes of a body (``meta`` first, or last when keys are sorted),
    whatever its size; a body that only mentions it in between keeps a strong tag."""
    data = [{"id": number, "name": f"item {number}"} for number in range(500)]
    first = orjson.dumps({"meta": {"request_id": "ab"}, "data": data})
    last = orjson.dumps({"meta": {"request_id": "ab"}, "data": data}, option=orjson.OPT_SORT_KEYS)
    middle = orjson.dumps([*data[:200], {"request_id": "ab"}, *data[200:]])
    assert len(middle) > 10 * REQUEST_ID_WINDOW

    assert body_etag(first, "ab") == "W/" + strong_etag(first.replace(b'"ab"', b"", 1))
    assert body_etag(last, "ab") == "W/" + strong_etag(last.replace(b'"ab"', b"", 1))
    assert body_etag(middle, "ab") == strong_etag(middle)


def test_without_request_id_escapes_the_id_as_json() -> None:
    body = b'{"meta":{"request_id":"a\\"b\\\\c/"},"data":[]}'
    assert json.loads(body)["meta"]["request_id"] == 'a"b\\c/'
    assert without_request_id(body, 'a"b\\c/') == b'{"meta":{"request_id":},"data":[]}'
    assert body_etag(body, 'a"b\\c/').startswith('W/"')
    assert body_etag(body, "other") == strong_etag(body)


def test_bodies_without_the_request_id_keep_strong_tags(make_app: AppMaker) -> None:
    with wire_client(make_app(settings=ENVELOPE)) as wire:
        page = wire.get("/page", IDENTITY)  # not JSON: no envelope

    assert (page.header("etag") or "").startswith('"')


# -- Content-Encoding: identity -------------------------------------------------------------


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_identity_content_encoding_is_replaced_by_the_coding(
    make_app: AppMaker, coding: str
) -> None:
    with wire_client(make_app()) as wire:
        sent = wire.get("/identity", {"Accept-Encoding": coding})

    assert sent.header("content-encoding") == coding  # one field, one coding
    assert sent.header("content-length") == str(len(sent.body))
    assert json.loads(decoded(sent)) == optimizer_views.ITEMS


def test_identity_content_encoding_stays_when_not_compressed(make_app: AppMaker) -> None:
    with wire_client(make_app()) as wire:
        sent = wire.get("/identity", IDENTITY)

    assert sent.header("content-encoding") == "identity"
    assert json.loads(sent.body) == optimizer_views.ITEMS


def test_other_content_encodings_are_left_alone(make_app: AppMaker) -> None:
    with wire_client(make_app()) as wire:
        sent = wire.get("/encoded", {"Accept-Encoding": "zstd, br, gzip"})
        head = wire.head("/encoded", {"Accept-Encoding": "zstd, br, gzip"})

    assert sent.header("content-encoding") == "gzip"
    assert json.loads(gzip.decompress(sent.body)) == optimizer_views.ITEMS
    assert head.fields() == sent.fields()
    assert head.body == b""
