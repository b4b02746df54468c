"""Liveness, readiness and startup probes and health groups, served at the ASGI level.

Served before the request reaches the handlers, so probes are answered even when every view
thread is busy. Each probe is a group of ``health_info`` checks (see ``_health_groups``):
``/healthz`` liveness, ``/readyz`` readiness, ``/startupz`` startup; ``/health/{group}`` any
group with each check's groups, last duration and last error, ``/health`` every check.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from ._health_groups import DOWN, LIVENESS, READINESS, STARTUP, UP, HealthGroups
from ._json_response import send_json, send_problem
from ._paths import app_path

if TYPE_CHECKING:
    from ._base import BaseApp
    from ._kernel_endpoints import ApiPrecedence

logger = logging.getLogger("chassis.health")

__all__ = ["DOWN", "UP", "HealthMiddleware"]


class HealthMiddleware:
    """Answers ``GET``/``HEAD`` on the probe and group paths (other methods: 405)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        chassis_app: BaseApp,
        liveness_path: str,
        readiness_path: str,
        startup_path: str | None = None,
        groups_path: str | None = None,
        api_first: ApiPrecedence | None = None,
    ) -> None:
        self.app = app
        self.chassis_app = chassis_app
        self.api_first = api_first
        """Says which requests for these paths the API answers (paths its specs declare)."""
        self.probes = {liveness_path: LIVENESS, readiness_path: READINESS}
        if startup_path:
            self.probes[startup_path] = STARTUP
        self.groups_path = groups_path.rstrip("/") if groups_path else None
        self.groups_prefix = f"{self.groups_path}/" if self.groups_path else None
        self.groups = HealthGroups(chassis_app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = app_path(scope) if scope["type"] == "http" else None
        probe = self.probes.get(path) if path is not None else None
        listing = path is not None and self.groups_path is not None and path == self.groups_path
        group = None
        if path is not None and self.groups_prefix and path.startswith(self.groups_prefix):
            group = path[len(self.groups_prefix) :]
        mine = probe is not None or listing or bool(group)
        if not mine or (self.api_first is not None and self.api_first(scope, path or "")):
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            # Connexion's exception middleware turns it into the kernel's problem+json 405.
            raise HTTPException(405, headers={"Allow": "GET, HEAD"})
        head = scope["method"] == "HEAD"
        if probe is not None:
            status, body = await self._probe(probe)
        elif listing:
            status, body = await self._every_group()
        else:
            assert group is not None
            if group not in self.groups.known():
                # Groups that checks name themselves are learned from their reports.
                await self.groups.run(None)
            if group not in self.groups.known():
                known = ", ".join(self.groups.known())
                await send_problem(
                    send,
                    404,
                    "Not Found",
                    f"No health group {group!r} (groups: {known}).",
                    head=head,
                )
                return
            status, body = await self._group(group)
        await send_json(send, status, body, head=head)

    def _identity(self) -> dict[str, Any]:
        settings = self.chassis_app.settings
        return {"status": UP, "service": settings.service_name, "version": settings.service_version}

    async def _probe(self, group: str, *, detailed: bool = False) -> tuple[int, dict[str, Any]]:
        """A group's answer. The probes keep their documented bodies (liveness has ``checks``
        only when it has some); ``detailed`` adds each check's groups, duration, last error."""
        body = self._identity()
        run = await self.groups.run(group)
        draining = group == READINESS and self.chassis_app.draining
        if not run.healthy or draining:
            body["status"] = DOWN
        if draining:
            body["reason"] = "shutting down"
        if detailed:
            body["group"] = group
            body["checks"] = self.groups.detailed(run)
        elif group == READINESS or run.checks:
            body["checks"] = run.checks
        return (200 if body["status"] == UP else 503), body

    async def _group(self, group: str) -> tuple[int, dict[str, Any]]:
        return await self._probe(group, detailed=True)

    async def _every_group(self) -> tuple[int, dict[str, Any]]:
        """Every check, detailed, and each group's state."""
        run = await self.groups.run(None)
        body = self._identity()
        checks = self.groups.detailed(run)
        summary = dict.fromkeys(self.groups.known(), UP)
        for check in checks.values():
            if check.get("status") != UP:
                summary.update(dict.fromkeys(check["groups"], DOWN))
        if self.chassis_app.draining:
            summary[READINESS] = DOWN
            body["reason"] = "shutting down"
        if DOWN in summary.values():
            body["status"] = DOWN
        body["groups"] = summary
        body["checks"] = checks
        return (200 if body["status"] == UP else 503), body
