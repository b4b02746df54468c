"""HTTP caching: Cache-Control from the route, strong ETags, If-None-Match answered with 304."""

from __future__ import annotations

from typing import Any

import optimizer_views
import pytest
from optimizer_support import AppMaker

IDENTITY = {"Accept-Encoding": "identity"}
GZIP = {"Accept-Encoding": "gzip"}


def test_strong_etag_on_get_200(client: Any) -> None:
    first = client.get("/items", headers=IDENTITY)
    second = client.get("/items", headers=IDENTITY)
    other = client.get("/items?limit=3", headers=IDENTITY)

    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert second.headers["etag"] == etag
    assert other.headers["etag"] != etag


def test_compressed_representation_has_its_own_etag(client: Any) -> None:
    plain = client.get("/items", headers=IDENTITY).headers["etag"]
    gzip = client.get("/items", headers=GZIP).headers["etag"]
    zstd = client.get("/items", headers={"Accept-Encoding": "zstd"}).headers["etag"]

    assert len({plain, gzip, zstd}) == 3
    assert gzip == plain[:-1] + '-gzip"'


def test_if_none_match_gives_304_without_body(client: Any) -> None:
    etag = client.get("/items", headers=GZIP).headers["etag"]

    response = client.get("/items", headers={**GZIP, "If-None-Match": etag})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert "content-length" not in response.headers
    assert "content-type" not in response.headers
    assert "accept-encoding" in response.headers["vary"].lower()
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    "template",
    [
        "{tag}",
        "W/{tag}",
        '"other", {tag}',
        '"a",W/"b" , {tag}',
        "*",
        "{gzip_tag}",  # the tag of the gzip representation, asked without gzip
    ],
)
def test_if_none_match_forms(client: Any, template: str) -> None:
    tag = client.get("/items", headers=IDENTITY).headers["etag"]
    gzip_tag = client.get("/items", headers=GZIP).headers["etag"]

    response = client.get(
        "/items",
        headers={**IDENTITY, "If-None-Match": template.format(tag=tag, gzip_tag=gzip_tag)},
    )

    assert response.status_code == 304
    assert response.headers["etag"] == tag


@pytest.mark.parametrize(
    "value",
    [
        '"nope"',
        "garbage",
        '"unterminated',
        "W/",
        ",,,",
        '"a", , W/"b"',
        "x" * 10_000,
        '"' * 5000,
        "\x7f\x00",
    ],
)
def test_malformed_or_stale_if_none_match_gives_200(client: Any, value: str) -> None:
    response = client.get("/items", headers={**GZIP, "If-None-Match": value})

    assert response.status_code == 200
    assert response.json() == optimizer_views.ITEMS


def test_etag_of_the_view_is_kept_and_matched(client: Any) -> None:
    response = client.get("/etagged", headers=IDENTITY)
    assert response.headers["etag"] == '"v1"'
    assert client.get("/etagged", headers=GZIP).headers["etag"] == '"v1-gzip"'

    assert client.get("/etagged", headers={**GZIP, "If-None-Match": '"v1"'}).status_code == 304
    assert client.get("/etagged", headers={**GZIP, "If-None-Match": '"v2"'}).status_code == 200


def test_no_304_for_other_methods_or_errors(client: Any) -> None:
    response = client.post("/items", json={}, headers={**IDENTITY, "If-None-Match": "*"})
    assert response.status_code == 200
    assert "etag" not in response.headers

    response = client.get("/items?limit=0", headers={"If-None-Match": "*"})
    assert response.status_code == 400
    assert "etag" not in response.headers


def test_etags_can_be_switched_off(make_app: AppMaker) -> None:
    with make_app({"etag": False}).test_client() as client:
        response = client.get("/items", headers={"If-None-Match": "*"})

    assert response.status_code == 200
    assert "etag" not in response.headers


def test_cache_control_from_set_cache_timeout(client: Any) -> None:
    assert client.get("/cached").headers["cache-control"] == "public, max-age=60"
    assert client.get("/spec-cached").headers["cache-control"] == "public, max-age=30"
    # connexion-plus's default: 24 hours.
    assert client.get("/default-timeout").headers["cache-control"] == "public, max-age=86400"
    assert "cache-control" not in client.get("/items").headers


@pytest.mark.parametrize("credentials", [{"Authorization": "Bearer abc"}, {"Cookie": "session=1"}])
def test_cache_control_is_private_for_credentialed_requests(
    client: Any, credentials: dict[str, str]
) -> None:
    assert client.get("/cached", headers=credentials).headers["cache-control"] == (
        "private, max-age=60"
    )
    # A route that declares itself shared stays public.
    assert client.get("/shared", headers=credentials).headers["cache-control"] == (
        "public, max-age=60"
    )


def test_no_cache_control_on_errors(make_app: AppMaker) -> None:
    with make_app().test_client() as client:
        response = client.get("/spec-cached?page=abc")

    assert response.status_code == 400
    assert "cache-control" not in response.headers
    assert "etag" not in response.headers


def test_head_carries_the_cached_etag(client: Any) -> None:
    get = client.get("/cached", headers=IDENTITY)
    head = client.head("/cached", headers=IDENTITY)

    assert head.status_code == 200
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["content-length"] == get.headers["content-length"]
    assert client.head("/cached", headers={"If-None-Match": get.headers["etag"]}).status_code == (
        304
    )
