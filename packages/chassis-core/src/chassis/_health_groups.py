"""Health groups: which checks each probe runs, and what each check did last.

A check (one entry of a ``health_info`` report) is in the groups its report names
(``{"status": "up", "groups": ["readiness", "startup"]}``), else in ``readiness``; the setting
``CHASSIS_HEALTH__GROUPS`` adds checks, or every check of a plugin, to any group
(``{"liveness": ["deadlock"], "deep": ["database"]}``). ``/readyz`` is the group
``readiness``, ``/healthz`` the group ``liveness``, ``/startupz`` the group ``startup``, and
``GET /health/{group}`` any group, with each check's groups, last duration and last error.

Every group but ``liveness`` runs every check and keeps its group's. Liveness is probed
often and must never wait on a dependency, so it runs only the plugins known to report a
liveness check: named in the setting, or seen reporting one by an earlier probe.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._base import BaseApp

LIVENESS, READINESS, STARTUP = "liveness", "readiness", "startup"
STANDARD_GROUPS = (LIVENESS, READINESS, STARTUP)
UP, DOWN = "up", "down"


class GroupRun:
    """The checks of one group from one run, and how long each took."""

    def __init__(self, checks: dict[str, Any], durations: dict[str, float]) -> None:
        self.checks = checks
        self.durations = durations

    @property
    def healthy(self) -> bool:
        return all(check.get("status") == UP for check in self.checks.values())


class HealthGroups:
    """One app's groups: membership learned from reports and settings, each check's history."""

    def __init__(self, app: BaseApp) -> None:
        self.app = app
        self.configured: dict[str, list[str]] = dict(app.settings.health.groups)
        self.groups_of: dict[str, list[str]] = {}
        """Each check's groups, as its last report gave them."""
        self.last_error: dict[str, tuple[str, str]] = {}
        """Each check's last error and when (ISO 8601, UTC), kept once it is up again."""

    def known(self) -> list[str]:
        """Every group name: the standard ones, the configured ones, and those seen."""
        seen = {group for groups in self.groups_of.values() for group in groups}
        return list(dict.fromkeys([*STANDARD_GROUPS, *self.configured, *sorted(seen)]))

    async def run(self, group: str | None) -> GroupRun:
        """Run the checks of ``group`` (``None``: every check)."""
        app = self.app
        only = None
        if group == LIVENESS:
            only = self._liveness_plugins()
            if not only:
                return GroupRun({}, {})
        durations: dict[str, float] = {}
        checks = await app.hooks.health(
            app, app.settings.health.timeout, only=only, durations=durations
        )
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        chosen = {}
        for name, detail in checks.items():
            groups = self._groups(name, detail)
            self.groups_of[name] = groups
            if detail.get("status") == DOWN:
                self.last_error[name] = (str(detail.get("error") or "down"), now)
            if group is None or group in groups:
                chosen[name] = detail
        return GroupRun(chosen, durations)

    def detailed(self, run: GroupRun) -> dict[str, Any]:
        """Each check of ``run`` with its groups, duration and last error (``/health/...``)."""
        shown = {}
        for name, detail in run.checks.items():
            extra: dict[str, Any] = {"groups": self.groups_of.get(name, [READINESS])}
            if name in run.durations:
                extra["duration_ms"] = round(run.durations[name] * 1000, 2)
            if name in self.last_error:
                extra["last_error"], extra["last_error_at"] = self.last_error[name]
            shown[name] = {**detail, **extra}
        return shown

    def _groups(self, check: str, detail: dict[str, Any]) -> list[str]:
        given = detail.get("groups")
        if isinstance(given, str) and given:
            found = [given]
        elif isinstance(given, (list, tuple)) and given:
            found = [str(group) for group in given]
        else:
            found = [READINESS]
        plugin = self._plugin_of(check)
        for group, names in self.configured.items():
            if check in names or (plugin is not None and plugin in names):
                found.append(group)
        return sorted(set(found))

    def _plugin_of(self, check: str) -> str | None:
        for plugin, checks in self.app.hooks._check_names.items():
            if check in checks:
                return plugin
        return None

    def _liveness_plugins(self) -> list[str]:
        named = set(self.configured.get(LIVENESS, ()))
        plugins = [name for name in self.app.plugins if name in named]
        reported = self.app.hooks._check_names
        for plugin, checks in reported.items():
            if plugin in plugins:
                continue
            if any(c in named or LIVENESS in self.groups_of.get(c, ()) for c in checks):
                plugins.append(plugin)
        attributed = {check for checks in reported.values() for check in checks}
        if named - attributed - set(self.app.plugins):
            # A configured check whose plugin is not known yet: ask the plugins never heard.
            plugins += [name for name in self.app.plugins if name not in reported]
        return list(dict.fromkeys(plugins))
