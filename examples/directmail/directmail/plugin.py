"""The service's own in-app plugin: its settings (``CHASSIS_DIRECTMAIL__*``), declared the
same way any installed plugin declares its own. The database is chassis-sqlalchemy's
(``CHASSIS_SQLALCHEMY__URL``), its schema and sample rows the migrations' (``migrations/``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import chassis
import chassis_sqlalchemy

logger = logging.getLogger("directmail")


class DirectmailSettings(chassis.PluginSettings):
    upgrade_on_start: bool = True
    """Migrate the database to head at start-up (a local run, tests); the deploy kit runs
    ``chassis db upgrade`` in an init container and switches this off."""


@chassis.hookimpl
def settings_model() -> type[DirectmailSettings]:
    return DirectmailSettings


@chassis.hookimpl
async def startup(app: Any, plugin: chassis.PluginContext) -> None:
    if plugin.settings.upgrade_on_start:
        await asyncio.to_thread(chassis_sqlalchemy.upgrade, app)
