"""``GET /info``: the service, its build, chassis and plugin versions, Python, start time.

Plugins add their own section through the ``info`` hook; each implementation runs on its
own, time-limited, and a failing one shows its error in its section, never a 500.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from ._redact import redact_credentials, redact_values
from ._settings import SettingsError

if TYPE_CHECKING:
    from ._base import BaseApp
    from ._management_settings import InfoSettings

logger = logging.getLogger("chassis.info")

DEFAULT_BUILD_FILE = "build-info.json"
_IMPLEMENTATIONS = {"cpython": "CPython", "pypy": "PyPy"}


def read_build_info(settings: InfoSettings) -> dict[str, Any]:
    """The build's ``commit`` and ``time``: settings first, then the build-info file.

    The file (``CHASSIS_INFO__BUILD_FILE``, else ``./build-info.json`` when present) is a JSON
    object; ``make dist`` and the Dockerfile write ``{"commit": ..., "time": ...}``. A file the
    setting names must exist and hold an object: start-up stops otherwise.
    """
    found: dict[str, Any] = {}
    named = settings.build_file
    path = Path(named or DEFAULT_BUILD_FILE)
    if named or path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise SettingsError(
                f"Invalid settings:\n  CHASSIS_INFO__BUILD_FILE (info.build_file): cannot read "
                f"{str(path)!r}: {error}"
            ) from None
        if not isinstance(data, dict):
            raise SettingsError(
                f"Invalid settings:\n  CHASSIS_INFO__BUILD_FILE (info.build_file): {str(path)!r}"
                " must hold a JSON object"
            )
        # null: not known when it was built (a source tree without .git).
        found.update(redact_values({k: v for k, v in data.items() if v is not None}))
    if settings.git_commit:
        found["commit"] = settings.git_commit
    if settings.build_time:
        found["time"] = settings.build_time
    return found


class InfoReport:
    """What ``/info`` says of one app; the constant part is worked out once."""

    def __init__(self, app: BaseApp) -> None:
        from ._base import __version__

        self.app = app
        self.build = read_build_info(app.settings.info)
        self.started = time.time()
        self.started_monotonic = time.monotonic()
        self.chassis = {"version": __version__, "app_class": type(app).__name__}
        # From sys, not the platform module (which would cost every service's start-up).
        self.python = {
            "version": sys.version.split()[0],
            "implementation": _IMPLEMENTATIONS.get(
                sys.implementation.name, sys.implementation.name
            ),
        }

    async def body(self) -> dict[str, Any]:
        app = self.app
        settings = app.settings
        body: dict[str, Any] = {
            "service": {"name": settings.service_name, "version": settings.service_version},
        }
        if self.build:
            body["build"] = self.build
        body["chassis"] = self.chassis
        body["python"] = self.python
        body["started_at"] = datetime.fromtimestamp(self.started, timezone.utc).isoformat(
            timespec="seconds"
        )
        body["uptime_seconds"] = round(time.monotonic() - self.started_monotonic, 1)
        sections = await collect_info(app, settings.health.timeout)
        plugins: dict[str, Any] = {}
        for name, context in app.plugins.items():
            info = context.info
            entry: dict[str, Any] = {"distribution": info.distribution, "version": info.version}
            if info.builtin:
                entry["builtin"] = True
            if name in sections:
                entry["info"] = sections[name]
            plugins[name] = entry
        body["plugins"] = plugins
        return body


async def collect_info(app: BaseApp, timeout: float) -> dict[str, Any]:
    """Each plugin's ``info`` section by plugin name, in registration order.

    Implementations run through pluggy in a worker thread (sync ones may do I/O); ``async
    def`` ones run on this event loop. Each gets ``timeout`` seconds; an exception or a
    time-out becomes ``{"error": ...}`` in that plugin's section.
    """
    loop = asyncio.get_running_loop()
    hooks = app.hooks

    def adapt(impl: pluggy.HookImpl) -> Callable[..., Any]:
        function = hooks._argument(impl, with_plugin=True)
        if impl.wrapper or impl.hookwrapper:
            return function

        @functools.wraps(function)
        def isolated(*args: Any, **kwargs: Any) -> tuple[str, Any]:
            try:
                result = function(*args, **kwargs)
                if inspect.isawaitable(result):
                    coroutine = asyncio.wait_for(_awaited(result), timeout)
                    result = asyncio.run_coroutine_threadsafe(coroutine, loop).result()
            except Exception as error:
                logger.warning("info of plugin %r failed: %r", impl.plugin_name, error)
                detail = redact_credentials(f"{type(error).__name__}: {error}")
                return impl.plugin_name, {"error": detail}
            if result is None:
                return impl.plugin_name, None
            if not isinstance(result, dict):
                return impl.plugin_name, {"error": f"info returned {type(result).__name__}"}
            return impl.plugin_name, redact_values(result)

        return isolated

    impls = hooks._ordered("info", adapt)
    if not impls:
        return {}
    call = functools.partial(hooks._execute, "info", impls, app=app, plugin=None)
    try:
        # Each async one is limited on its own; this bounds sync ones (one thread runs them).
        results = await asyncio.wait_for(asyncio.to_thread(call), timeout * 2)
    except asyncio.TimeoutError:
        logger.warning("info hooks did not finish in %s s: sections left out", timeout * 2)
        return {}
    return {
        name: section
        for item in results
        if isinstance(item, tuple) and len(item) == 2
        for name, section in [item]
        if section is not None
    }


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
