"""Liveness and readiness endpoints, served at the ASGI level.

Served before the request reaches the handlers, so probes are answered even when every view
thread is busy. Readiness runs every ``health_info`` check (see ``HookRunner.health``).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from ._paths import app_path

if TYPE_CHECKING:
    from ._base import BaseApp

logger = logging.getLogger("chassis.health")

UP, DOWN = "up", "down"


class HealthMiddleware:
    """Answers ``GET``/``HEAD`` on the liveness and readiness paths (other methods: 405)."""

    def __init__(
        self, app: ASGIApp, *, chassis_app: BaseApp, liveness_path: str, readiness_path: str
    ) -> None:
        self.app = app
        self.chassis_app = chassis_app
        self.liveness_path = liveness_path
        self.readiness_path = readiness_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = app_path(scope) if scope["type"] == "http" else None
        if path not in (self.liveness_path, self.readiness_path):
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            # Connexion's exception middleware turns it into the kernel's problem+json 405.
            raise HTTPException(405, headers={"Allow": "GET, HEAD"})
        app = self.chassis_app
        settings = app.settings
        body: dict[str, Any] = {
            "status": UP,
            "service": settings.service_name,
            "version": settings.service_version,
        }
        status = 200
        if path == self.readiness_path:
            checks = await app.hooks.health(app, settings.health.timeout)
            healthy = all(check.get("status") == UP for check in checks.values())
            if not healthy or app.draining:
                body["status"], status = DOWN, 503
            if app.draining:
                body["reason"] = "shutting down"
            body["checks"] = checks
        payload = json.dumps(body, default=str).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else payload}
        )
