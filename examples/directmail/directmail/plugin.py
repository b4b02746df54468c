"""The service's own in-app plugin: its settings (``CHASSIS_DIRECTMAIL__*``), its database
and the database's readiness check, the same way any installed plugin would do them."""

from __future__ import annotations

from typing import Any

import chassis
import httpx

from .db import connect

ENGINE_KEY = "DIRECTMAIL_ENGINE"


class DirectmailSettings(chassis.PluginSettings):
    database_url: str = "sqlite:///directmail.db"
    seed_rows: int = 500


@chassis.hookimpl
def settings_model() -> type[DirectmailSettings]:
    return DirectmailSettings


@chassis.hookimpl
def configure_app(app: chassis.App, settings: Any) -> None:
    engine = connect(settings.directmail.database_url, settings.directmail.seed_rows)
    app.app.config[ENGINE_KEY] = engine
    app.extras["directmail.database"] = chassis.DatabaseCheck(engine)


@chassis.hookimpl
def health_info(app: chassis.App) -> dict[str, dict[str, Any]]:
    check: chassis.DatabaseCheck = app.extras["directmail.database"]
    return check.health_info()


ADDRESS_SERVICE = "address"
"""The downstream address-lookup service (``[client.services.address]`` in chassis.toml)."""


def address_client() -> httpx.Client | None:
    """The address service's client, or ``None`` when the client plugin is off or the service
    is not configured (the lookup is then left out)."""
    app = chassis.current_context.app
    if app is None or app.plugin_context("client") is None:
        return None
    import chassis_client

    clients = chassis_client.clients(app)
    if ADDRESS_SERVICE not in clients.services:
        return None
    return clients.client(ADDRESS_SERVICE)
