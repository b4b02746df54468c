"""Liveness and readiness endpoints, served at the ASGI level.

Served before the request reaches Flask, so probes are answered even when every view thread
is busy. Each ``health_info`` implementation runs on its own with a time limit.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from ._paths import app_path
from ._redact import redact_credentials, redact_values

if TYPE_CHECKING:
    from ._app import App

logger = logging.getLogger("chassis.health")

UP, DOWN = "up", "down"


class HealthChecks:
    """Runs the ``health_info`` implementations of one app: isolated, concurrent, time-limited."""

    def __init__(self, app: App, timeout: float) -> None:
        self.app = app
        self.timeout = timeout
        # A check that hangs keeps its thread; a small bounded pool keeps that from spreading.
        self._executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="chassis-health")
        self.draining = False
        # The check names each plugin last reported, so that a plugin that fails or times
        # out marks *those* checks down instead of reporting under a name of its own.
        self._names: dict[str, list[str]] = {}

    async def run(self) -> tuple[bool, dict[str, Any]]:
        impls = self.app.plugin_manager.hook.health_info.get_hookimpls()
        results = await asyncio.gather(*(self._run_one(impl) for impl in impls))
        checks: dict[str, Any] = {}
        for found in results:
            checks.update(found)
        healthy = all(check.get("status") == UP for check in checks.values())
        if self.draining:
            healthy = False
        return healthy, checks

    async def _run_one(self, impl: Any) -> dict[str, Any]:
        name = impl.plugin_name
        kwargs = {"app": self.app} if "app" in impl.argnames else {}
        try:
            if inspect.iscoroutinefunction(impl.function):
                found = await asyncio.wait_for(impl.function(**kwargs), self.timeout)
            else:
                loop = asyncio.get_running_loop()
                # In a copy of this context, so the check's log lines carry the request id.
                call = functools.partial(contextvars.copy_context().run, impl.function, **kwargs)
                future = loop.run_in_executor(self._executor, call)
                found = await asyncio.wait_for(future, self.timeout)
        except asyncio.TimeoutError:
            logger.warning("health check of plugin %r timed out after %s s", name, self.timeout)
            return self._down(name, f"timed out after {self.timeout:g} s")
        except Exception as error:
            logger.warning("health check of plugin %r failed: %r", name, error)
            return self._down(name, redact_credentials(f"{type(error).__name__}: {error}"))
        if found is None:
            return {}
        if not isinstance(found, dict):
            return {name: {"status": DOWN, "error": f"health_info returned {type(found).__name__}"}}
        checks = {}
        for check, detail in found.items():
            if not isinstance(detail, dict) or detail.get("status") not in (UP, DOWN):
                detail = {"status": DOWN, "error": f"invalid report: {detail!r}"[:200]}
            checks[str(check)] = redact_values(detail)
        self._names[name] = list(checks)
        return checks

    def _down(self, plugin: str, error: str) -> dict[str, Any]:
        return {
            check: {"status": DOWN, "error": error} for check in self._names.get(plugin, [plugin])
        }


class HealthMiddleware:
    """Answers ``GET``/``HEAD`` on the liveness and readiness paths (other methods: 405)."""

    def __init__(
        self, app: ASGIApp, *, checks: HealthChecks, liveness_path: str, readiness_path: str
    ) -> None:
        self.app = app
        self.checks = checks
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
        settings = self.checks.app.settings
        body: dict[str, Any] = {
            "status": UP,
            "service": settings.service_name,
            "version": settings.service_version,
        }
        status = 200
        if path == self.readiness_path:
            healthy, checks = await self.checks.run()
            if not healthy:
                body["status"], status = DOWN, 503
            if self.checks.draining:
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
