"""Settings that point at another server: an http(s) endpoint, and a list of headers sent to
it (``key=value,key2=value2``, the format of ``OTEL_EXPORTER_OTLP_HEADERS``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote, urlsplit

from pydantic import AfterValidator


def _http_endpoint(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


HttpEndpoint = Annotated[str | None, AfterValidator(_http_endpoint)]
"""A setting holding an http:// or https:// URL with a host; blank means unset (``None``)."""


def parse_headers(value: str) -> dict[str, str]:
    """``key=value,key2=value2`` (values URL-encoded) to a dict with lower-case keys.

    Raises ``ValueError`` naming the position of a bad item, never echoing a value (they are
    usually credentials).
    """
    headers: dict[str, str] = {}
    for position, item in enumerate(value.split(","), start=1):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        key = key.strip()
        if not sep or not key or any(c.isspace() for c in key):
            raise ValueError(
                f"item {position} is not key=value (expected 'key=value,key2=value2', "
                "values URL-encoded)"
            )
        headers[key.lower()] = unquote(val.strip())
    return headers
