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

import brotli
import optimizer_views
import pytest
import zstandard
from optimizer_support import AppMaker, Sent, wire_client

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

    assert sent.header("content-encoding") == "gzip"
    assert json.loads(gzip.decompress(sent.body)) == optimizer_views.ITEMS
