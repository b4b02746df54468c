"""Who a request is counted against: the authenticated subject, the API key, or the client's
address.

The address is the connection's peer, unless that peer is one of ``trusted_proxies``: then
``X-Forwarded-For`` is read from the right (each proxy appends the address it received the
request from), skipping trusted proxies, and the first address that is not one of them is
the client's. Entries left of it were written by the client itself and are never believed.
Without ``trusted_proxies`` the header is ignored: anyone can send it.

Keys never hold a credential: an API key is counted under a SHA-256 digest of it.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from starlette.types import Scope

from ._policy import KeySource

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_MAX_HEADER = 4096


def _digest(value: str) -> str:
    digest = hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode("ascii")


class KeyMaker:
    """Builds the key of a request for a list of key sources (first available wins)."""

    def __init__(
        self,
        *,
        api_key_header: str,
        trusted_proxies: Sequence[str],
        forwarded_header: str,
        ipv6_prefix: int,
    ) -> None:
        self.api_key_header = api_key_header.lower().encode("latin-1")
        self.forwarded_header = forwarded_header.lower().encode("latin-1")
        self.trusted: tuple[Network, ...] = tuple(
            ipaddress.ip_network(entry, strict=False) for entry in trusted_proxies
        )
        self.ipv6_prefix = ipv6_prefix
        # Cached per maker: the address of a busy client is looked at on every request.
        self.normalize = lru_cache(maxsize=4096)(self._normalize)
        self.is_trusted = lru_cache(maxsize=1024)(self._is_trusted)

    def key(self, sources: Sequence[KeySource], scope: Scope, context: Any) -> str:
        for source in sources:
            if source == "subject":
                found = self.subject(context)
            elif source == "api_key":
                found = self.api_key(scope)
            else:
                return "ip:" + self.address(scope)
            if found is not None:
                return found
        return "ip:" + self.address(scope)

    @staticmethod
    def subject(context: Any) -> str | None:
        """The principal Connexion's security (the auth plugin) set, as ``sub:<digest>``."""
        if context is None:
            return None
        user = context.user
        if user is None or user == "":
            info = context.token_info
            user = info.get("sub") if isinstance(info, dict) else None
        if user is None or user == "":
            return None
        return "sub:" + _digest(str(user))

    def api_key(self, scope: Scope) -> str | None:
        for name, value in scope.get("headers") or ():
            if name == self.api_key_header and value:
                return "key:" + _digest(value.decode("latin-1"))
        return None

    def address(self, scope: Scope) -> str:
        client = scope.get("client")
        peer = str(client[0]) if client else ""
        if not peer:
            return "unknown"
        if not self.trusted or not self.is_trusted(peer):
            return self.normalize(peer)
        hops = self._forwarded(scope)
        for hop in reversed(hops):
            if not self.is_trusted(hop):
                return self.normalize(hop)
        # Every hop is a trusted proxy (or the header is absent): the leftmost one we have.
        return self.normalize(hops[0] if hops else peer)

    def _forwarded(self, scope: Scope) -> list[str]:
        values = [
            value.decode("latin-1")
            for name, value in scope.get("headers") or ()
            if name == self.forwarded_header
        ]
        joined = ",".join(values)[-_MAX_HEADER:]
        return [hop.strip() for hop in joined.split(",") if hop.strip()]

    def _is_trusted(self, address: str) -> bool:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in self.trusted)

    def _normalize(self, address: str) -> str:
        """The canonical text of an IP address; an IPv6 one as its network; else as given."""
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return address[:64]
        if isinstance(parsed, ipaddress.IPv6Address):
            if parsed.ipv4_mapped is not None:
                return str(parsed.ipv4_mapped)
            network = ipaddress.IPv6Network((parsed, self.ipv6_prefix), strict=False)
            return str(network)
        return str(parsed)
