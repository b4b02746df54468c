"""Plugin discovery, selection and registration over the ``chassis.plugins`` entry points.

Written over ``importlib.metadata`` rather than pluggy's ``load_setuptools_entrypoints``: that
one imports in file-system order, drops duplicate names silently and cannot filter by
settings before importing. Here nothing is imported until settings say the plugin is on.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import Distribution, EntryPoint, distributions
from typing import Any

import pluggy

from . import hookspecs
from ._markers import PROJECT_NAME
from ._origins import origin_of
from ._settings import FIRST_PARTY_PLUGINS, PluginSettings, Settings, _Bootstrap

ENTRY_POINT_GROUP = "chassis.plugins"

logger = logging.getLogger("chassis.plugins")


class PluginError(RuntimeError):
    """A plugin that should load cannot: missing, failing to import, register or configure."""


@dataclass
class PluginInfo:
    """What is known of one plugin: where it comes from and whether it is active."""

    name: str
    distribution: str | None = None
    version: str | None = None
    entry_point: str | None = None
    enabled: bool = False
    reason: str = ""
    hooks: list[str] = field(default_factory=list)
    plugin: object | None = None
    builtin: bool = False
    """A feature of chassis-core on the plugin hooks (the envelope, the database check)."""

    @property
    def origin(self) -> str:
        if self.distribution:
            return f"{self.distribution} {self.version}"
        return "passed to App(plugins=...)"


def discover() -> dict[str, EntryPoint]:
    """The installed plugins by name; a name claimed by two distributions is an error.

    The same result as ``entry_points(group=ENTRY_POINT_GROUP)`` in 60 % of its time:
    that parses every installed distribution's ``entry_points.txt``, while few of them name
    the group (it is read at every start-up).
    """
    found: dict[str, EntryPoint] = {}
    for dist in distributions():
        text = dist.read_text("entry_points.txt")
        if not text or ENTRY_POINT_GROUP not in text:
            continue
        for ep in dist.entry_points.select(group=ENTRY_POINT_GROUP):
            other = found.get(ep.name)
            if other is None:
                found[ep.name] = ep
            elif _dist_name(other) != _dist_name(ep):
                raise PluginError(
                    f"plugin {ep.name!r} is provided by two distributions: "
                    f"{_dist_name(other)} and {_dist_name(ep)}; uninstall one"
                )
            # else: a copy of the same distribution further on sys.path, which the first hides
    return found


def _dist_name(ep: EntryPoint) -> str:
    return dist_fields(ep.dist)[0]


def _dist_version(ep: EntryPoint) -> str:
    return dist_fields(ep.dist)[1]


def dist_fields(dist: Distribution | None) -> tuple[str, str]:
    """The distribution's name and version from the head of its metadata file: the standard
    library parses the whole file as an e-mail message (about 1 ms each, at every start-up,
    for every installed plugin)."""
    if dist is None:
        return "?", "?"
    name = version = "?"
    for line in (dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "").splitlines():
        if not line:
            break  # the headers end at the first empty line
        if line.startswith("Name:"):
            name = line[5:].strip()
        elif line.startswith("Version:"):
            version = line[8:].strip()
    return name, version


def explicit_names(
    plugins: Sequence[object] | Mapping[str, object] | None,
    installed: Mapping[str, EntryPoint] | None = None,
) -> dict[str, object]:
    """Name the plugin objects passed to ``App(plugins=...)``: the mapping's key, else the
    object's ``chassis_plugin_name``, else the name of the installed entry point that loads
    that very module, else the module's (or class's) own name."""
    if plugins is None:
        return {}
    if isinstance(plugins, Mapping):
        return dict(plugins)
    by_module = {ep.value.partition(":")[0]: name for name, ep in (installed or {}).items()}
    named: dict[str, object] = {}
    for plugin in plugins:
        name = getattr(plugin, "chassis_plugin_name", None)
        if name is None and isinstance(plugin, types.ModuleType):
            name = by_module.get(plugin.__name__)
        name = name or _object_name(plugin)
        if name in named:
            raise PluginError(f"two plugins passed to App are both named {name!r}")
        named[name] = plugin
    return named


def _object_name(plugin: object) -> str:
    if isinstance(plugin, types.ModuleType):
        return plugin.__name__.rsplit(".", 1)[-1]
    return type(plugin).__name__.lower() if not isinstance(plugin, type) else plugin.__name__


def select(
    installed: Mapping[str, EntryPoint],
    settings: _Bootstrap,
    explicit: Iterable[str],
    overrides: Mapping[str, Any] | None = None,
) -> tuple[list[str], dict[str, PluginInfo]]:
    """Decide, from settings alone, which installed plugins load and in which order
    (``overrides``: the keyword settings, to name them in errors)."""
    overrides = overrides or {}
    explicit = set(explicit)
    infos = {
        name: PluginInfo(name, *dist_fields(ep.dist), ep.value, reason="not selected")
        for name, ep in installed.items()
    }
    disabled = set(settings.disabled_plugins)
    wanted = settings.plugins if settings.plugins is not None else sorted(installed)
    order: list[str] = []
    for name in dict.fromkeys(wanted):
        if name in explicit:
            continue
        toggle: PluginSettings | None = getattr(settings, name, None)
        if name not in installed:
            if settings.plugins is not None:
                raise PluginError(_missing_message(name, "CHASSIS_PLUGINS"))
            continue
        if name in disabled:
            infos[name].reason = "CHASSIS_DISABLED_PLUGINS"
        elif toggle is not None and not toggle.enabled:
            infos[name].reason = f"CHASSIS_{name.upper()}__ENABLED=false"
        else:
            order.append(name)
            infos[name].reason = ""
    if settings.plugins is not None:
        for name in set(installed) - set(order) - disabled - explicit:
            toggle = getattr(settings, name, None)
            if toggle is not None and "enabled" in toggle.model_fields_set and toggle.enabled:
                raise PluginError(
                    f"plugin {name!r} is switched on (CHASSIS_{name.upper()}__ENABLED or a "
                    f"connexion-plus use_* keyword) but CHASSIS_PLUGINS does not list it: "
                    f"add it to CHASSIS_PLUGINS or drop the switch"
                )
            if infos[name].reason == "not selected":
                infos[name].reason = "not listed in CHASSIS_PLUGINS"
    # A section switched on explicitly for a plugin that is not installed is a mistake.
    for name, value in (settings.model_extra or {}).items():
        if name in Settings.model_fields or name in installed or name in explicit:
            continue
        if isinstance(value, Mapping) and value.get("enabled"):
            where = origin_of([name, "enabled"], overrides) or f"CHASSIS_{name.upper()}__ENABLED"
            raise PluginError(_missing_message(name, where))
    return order, infos


def _missing_message(name: str, where: str) -> str:
    hint = FIRST_PARTY_PLUGINS.get(name)
    fix = f"pip install {hint}" if hint else "install the distribution that provides it"
    return (
        f"plugin {name!r} is enabled by {where} but is not installed: no distribution has an "
        f"entry point {name!r} in group {ENTRY_POINT_GROUP!r}; {fix}"
    )


def load(ep: EntryPoint) -> object:
    """Import one plugin, naming it, its distribution and version when that fails."""
    try:
        return ep.load()
    except Exception as error:
        raise PluginError(
            f"plugin {ep.name!r} ({_dist_name(ep)} {_dist_version(ep)}) failed to import "
            f"{ep.value!r}: {type(error).__name__}: {error}"
        ) from error


def new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def register(manager: pluggy.PluginManager, info: PluginInfo, plugin: object) -> None:
    try:
        manager.register(plugin, name=info.name)
    except Exception as error:
        raise PluginError(
            f"plugin {info.name!r} ({info.origin}) failed to register: {error}"
        ) from error
    info.plugin = plugin
    info.enabled = True
    info.hooks = sorted(
        caller.name for caller in manager.get_hookcallers(plugin) or [] if caller.name
    )
