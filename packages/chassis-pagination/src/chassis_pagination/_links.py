"""Absolute page URLs and the RFC 8288 ``Link`` header.

The URL is the request's own: scheme from the ASGI scope (which uvicorn's ``--proxy-headers``
sets from ``X-Forwarded-Proto`` for trusted proxies only), host from the ``Host`` header (else
the server address), path from the scope (with ``root_path``). Every query parameter but
``offset``, ``limit`` and ``cursor`` is kept, in order, repeated ones included, re-encoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, urlencode, urlunsplit

from starlette.datastructures import URL
from starlette.types import Scope

from ._params import PAGE_PARAMETERS

_PATH_SAFE = "/!$&'()*+,;=:@-._~"

RELATIONS = ("first", "prev", "next", "last")


class LinkBuilder:
    """Builds the URLs of other pages of the current request."""

    def __init__(self, scope: Scope) -> None:
        url = URL(scope=scope)
        self._scheme = url.scheme
        self._netloc = url.netloc
        self._path = quote(scope.get("path", "/"), safe=_PATH_SAFE)
        query_string: bytes = scope.get("query_string", b"")
        self._kept = [
            (name, value)
            for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
            if name not in PAGE_PARAMETERS
        ]

    def url(self, parameters: Mapping[str, str]) -> str:
        query = urlencode([*self._kept, *parameters.items()], quote_via=quote)
        return urlunsplit((self._scheme, self._netloc, self._path, query, ""))


def link_header(links: Mapping[str, str]) -> str:
    """``<url>; rel="next", ...`` in the order first, prev, next, last."""
    return ", ".join(f'<{links[rel]}>; rel="{rel}"' for rel in RELATIONS if rel in links)
