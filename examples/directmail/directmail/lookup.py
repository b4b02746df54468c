"""The downstream address-lookup service, called through chassis-client: the sync client
from ``api.py`` (chassis.App), the async one from ``api_async.py`` (chassis.AsyncApp)."""

from __future__ import annotations

from typing import Any

import chassis
import httpx
from connexion import ProblemException

ADDRESS_SERVICE = "address"
"""The service's name: ``[client.services.address]`` in chassis.toml."""


def _clients() -> Any:
    """The app's chassis-client services when the address service is one of them."""
    app = chassis.current_context.app
    if app is None or app.plugin_context("client") is None:
        return None
    import chassis_client

    clients = chassis_client.clients(app)
    return clients if ADDRESS_SERVICE in clients.services else None


def address_client() -> httpx.Client | None:
    """The address service's client, or ``None`` when the client plugin is off or the service
    is not configured (the lookup is then left out)."""
    clients = _clients()
    return clients.client(ADDRESS_SERVICE) if clients is not None else None


def async_address_client() -> httpx.AsyncClient | None:
    """:func:`address_client` for ``async def`` handlers."""
    clients = _clients()
    return clients.async_client(ADDRESS_SERVICE) if clients is not None else None


def lookup_params(premises: dict[str, object]) -> dict[str, str]:
    return {"postcode": str(premises["postcode"])}


def address_answer(
    premises: dict[str, object], response: httpx.Response | None
) -> dict[str, object]:
    """The premises' own address and the service's first match for its postcode (``None``
    without a service, or when it knows no such postcode: 404)."""
    lookup = None
    if response is not None and response.status_code != 404:
        if response.status_code != 200:
            raise ProblemException(
                status=502,
                title="Bad Gateway",
                detail=f"the address service answered {response.status_code}",
            )
        matches = response.json().get("results") or []
        lookup = matches[0] if matches else None
    return {
        "premises_id": premises["id"],
        "address": premises["address"],
        "postcode": premises["postcode"],
        "lookup": lookup,
    }
