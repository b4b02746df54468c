"""Built-in features that are not kernel: plugins on the same hooks as everyone's.

Like an installed plugin, each is registered only when settings switch it on. They are in
``app.plugins`` and ``app.plugin_infos`` (``builtin``), not in ``app.active_plugins``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from . import _envelope
from ._plugins import PluginInfo, register

if TYPE_CHECKING:
    from ._base import BaseApp

logger = logging.getLogger("chassis.health")

DATABASE_PLUGIN = "sqlalchemy"
"""The plugin (chassis-sqlalchemy) that takes over ``CHASSIS_HEALTH__DATABASE_URL``."""


def default_plugins(app: BaseApp) -> dict[str, object]:
    """The built-in plugins the app's settings switch on, by name."""
    settings = app.settings
    found: dict[str, object] = {}
    if settings.envelope.enabled:
        found["envelope"] = _envelope
    if settings.health.database_url is not None:
        if app.plugin_manager.has_plugin(DATABASE_PLUGIN):
            logger.warning(
                "CHASSIS_HEALTH__DATABASE_URL is deprecated: the sqlalchemy plugin checks that "
                "database now; set CHASSIS_SQLALCHEMY__URL instead"
            )
        else:
            from ._database import DatabaseCheck, check_database_url

            url = settings.health.database_url.get_secret_value()
            check_database_url(url)
            logger.warning(
                "CHASSIS_HEALTH__DATABASE_URL is deprecated: install chassis-sqlalchemy and set "
                "CHASSIS_SQLALCHEMY__URL (engines, sessions, readiness and migrations)"
            )
            found["database"] = DatabaseCheck(url)
    return found


def register_default_plugins(app: BaseApp) -> None:
    from ._base import __version__

    for name, plugin in default_plugins(app).items():
        if app.plugin_manager.has_plugin(name):
            continue  # the application registered its own under that name
        info = PluginInfo(name, "chassis-core", __version__, builtin=True)
        register(app.plugin_manager, info, plugin)
        app.plugin_infos = {name: info, **app.plugin_infos}
