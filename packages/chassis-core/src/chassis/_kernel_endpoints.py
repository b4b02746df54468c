"""The kernel's endpoints, and the API's precedence over them on the service's port.

The probes, health groups, ``/info`` and ``/loggers`` are answered in front of Connexion's
routing. A path a spec declares (``GET /info`` of the service's own) must not be answered by
them in the API's place: on the service's port the API's operation wins for that path, and
``add_api`` logs a warning naming the kernel endpoint it hides and the setting that moves it.
With a management port the kernel endpoints live there alone, so nothing is hidden.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from starlette.types import Scope

from ._settings import Settings
from ._spec_paths import SpecPaths, template_pattern

logger = logging.getLogger("chassis.management")

_METHODS = ("get", "head", "post", "put", "patch", "delete", "options", "trace")


class KernelEndpoint(NamedTuple):
    """One endpoint the kernel serves, and the settings that move it or switch it off."""

    name: str
    path: str
    below: bool
    """Also answers the paths below ``path`` (``/health/{group}``, ``/loggers/{name}``)."""
    move: str
    switch_off: str | None = None

    def shown(self) -> str:
        return f"{self.path} and {self.path}/{{...}}" if self.below else self.path

    def matched_by(self, template: str) -> bool:
        """Whether a spec's path template stands for a path this endpoint answers."""
        if re.fullmatch(template_pattern(template), self.path):
            return True
        if not self.below:
            return False
        # Below the path: the template has more segments, and its first ones match the path's.
        segments = template.strip("/").split("/")
        fixed = self.path.strip("/").split("/")
        return len(segments) > len(fixed) and all(
            re.fullmatch(template_pattern(mine), theirs)
            for mine, theirs in zip(segments, fixed, strict=False)
        )


def kernel_endpoints(settings: Settings) -> list[KernelEndpoint]:
    """The endpoints the kernel serves with these settings."""
    health, info, loggers = settings.health, settings.info, settings.loggers
    endpoints = [
        KernelEndpoint(
            "liveness probe", health.liveness_path, False, "CHASSIS_HEALTH__LIVENESS_PATH"
        ),
        KernelEndpoint(
            "readiness probe", health.readiness_path, False, "CHASSIS_HEALTH__READINESS_PATH"
        ),
    ]
    if health.startup_path:
        endpoints.append(
            KernelEndpoint(
                "startup probe", health.startup_path, False, "CHASSIS_HEALTH__STARTUP_PATH"
            )
        )
    if health.groups_path:
        endpoints.append(
            KernelEndpoint(
                "health groups",
                health.groups_path.rstrip("/"),
                True,
                "CHASSIS_HEALTH__GROUPS_PATH",
            )
        )
    if info.enabled:
        endpoints.append(
            KernelEndpoint(
                "build info", info.path, False, "CHASSIS_INFO__PATH", "CHASSIS_INFO__ENABLED=false"
            )
        )
    if loggers.enabled:
        endpoints.append(
            KernelEndpoint(
                "log levels",
                loggers.path.rstrip("/"),
                True,
                "CHASSIS_LOGGERS__PATH",
                "CHASSIS_LOGGERS__ENABLED=false",
            )
        )
    return endpoints


class ApiPrecedence:
    """Which requests for a kernel endpoint's path go to the API instead.

    On the service's port, those whose path a spec declares. On the management port, none:
    the API is not served there, and the kernel endpoints are.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.management_port = settings.management.port
        self.declared = SpecPaths()

    def __call__(self, scope: Scope, path: str) -> bool:
        """Whether the API answers this request for a kernel endpoint's path."""
        if self.management_port is not None:
            server = scope.get("server") or (None, None)
            if server[1] == self.management_port:
                return False
        return self.declared(path)

    def add_api(self, paths: Iterable[tuple[str, Any]]) -> None:
        """Take in the paths of an API (``spec_paths``); warn about each endpoint one hides."""
        endpoints = kernel_endpoints(self.settings) if self.management_port is None else []
        for template, item in paths:
            self.declared.add(template)
            for endpoint in endpoints:
                if endpoint.matched_by(template):
                    _warn(template, item, endpoint)


def _warn(template: str, item: Any, endpoint: KernelEndpoint) -> None:
    methods = [name.upper() for name in _METHODS if name in item]
    declared = f"{', '.join(methods) or 'the path'} {template}"
    off = f", switch it off with {endpoint.switch_off}" if endpoint.switch_off else ""
    logger.warning(
        "the API declares %s, which takes the path of chassis's %s endpoint (%s): requests "
        "for it reach the API, not the endpoint. Move the endpoint with %s%s, or serve it on "
        "a management port (CHASSIS_MANAGEMENT__PORT)",
        declared,
        endpoint.name,
        endpoint.shown(),
        endpoint.move,
        off,
    )
