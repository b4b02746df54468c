"""From settings sources and plugin objects to a plugin manager and validated settings.

Shared by :class:`chassis.App` and the ``chassis`` command, which must agree on what loads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import pluggy

from . import _plugins
from ._plugins import PluginError, PluginInfo
from ._settings import Settings, build_settings, read_bootstrap


class Loaded(NamedTuple):
    manager: pluggy.PluginManager
    infos: dict[str, PluginInfo]
    settings: Settings


def load_plugins(
    overrides: Mapping[str, Any],
    plugins: Sequence[object] | Mapping[str, object] | None = None,
) -> Loaded:
    """Select, import and register plugins, then validate the full settings.

    Nothing is imported for a plugin that settings switch off.
    """
    installed = _plugins.discover()
    explicit = _plugins.explicit_names(plugins, installed)
    bootstrap = read_bootstrap(overrides, [*installed, *explicit])
    order, infos = _plugins.select(installed, bootstrap, explicit, overrides)

    manager = _plugins.new_manager()
    for name in order:
        _plugins.register(manager, infos[name], _plugins.load(installed[name]))
    for name, plugin in explicit.items():
        infos[name] = PluginInfo(name)
        _plugins.register(manager, infos[name], plugin)
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as error:
        raise PluginError(f"plugin {error.plugin!r}: {error}") from error

    loaded = [*order, *explicit]
    # Registration order first (what App.active_plugins and the start-up line show).
    infos = {name: infos[name] for name in [*loaded, *(n for n in infos if n not in loaded)]}
    from ._runtime import HookRunner

    settings = build_settings(
        overrides,
        HookRunner(manager, dict.fromkeys(loaded)).settings_models(loaded),
        dormant=set(installed) - set(loaded),
    )
    for name, plugin in explicit.items():
        section = getattr(settings, name, None)
        if section is not None and not getattr(section, "enabled", True):
            manager.unregister(plugin)
            infos[name].enabled = False
            infos[name].reason = f"CHASSIS_{name.upper()}__ENABLED=false"
    return Loaded(manager, infos, settings)
