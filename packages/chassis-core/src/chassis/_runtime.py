"""The plugin runtime: each plugin's context, and every hook called through pluggy.

pluggy calls implementations last-registered first and its tracebacks do not say which
plugin failed. The kernel calls its set-up, lifecycle and health hooks through pluggy all the
same (so ``wrapper=True``, ``tryfirst`` and ``trylast`` work on every hook), with the
implementations arranged in the order the hook promises (registration order, or its reverse
for ``shutdown``) and each one adapted: it is given its own :class:`PluginContext` as
``plugin``, and a failure is re-raised as a :class:`PluginError` naming the plugin.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextvars import ContextVar
from typing import Any

import pluggy

from ._plugins import PluginError, PluginInfo
from ._redact import redact_credentials, redact_values

logger = logging.getLogger("chassis.plugins")

# The plugin whose set-up hook is running: layers it adds are owned by it.
current_owner: ContextVar[str | None] = ContextVar("chassis_hook_owner", default=None)

UP, DOWN = "up", "down"


class PluginContext:
    """What the kernel keeps for one plugin of one app; hooks get it as ``plugin``.

    :ivar name: the name the plugin is registered under (its entry point's name, or the
        name it was passed to ``App(plugins=...)`` with).
    :ivar plugin: the registered object (usually a module).
    :ivar app: the :class:`chassis.App` (or ``AsyncApp``).
    :ivar settings: the plugin's own settings section (``app.settings.<name>``), an instance
        of the model its ``settings_model`` returns (``chassis.PluginSettings`` without one).
    :ivar state: the plugin's per-app object (``None`` until the plugin sets it): keep what
        belongs to one app here, never in module globals, so that two apps in one process
        do not share it.
    :ivar info: where the plugin comes from (distribution, version).
    """

    __slots__ = ("app", "info", "name", "plugin", "settings", "state")

    def __init__(self, name: str, plugin: object, app: Any, info: PluginInfo) -> None:
        self.name = name
        self.plugin = plugin
        self.app = app
        self.info = info
        self.settings: Any = getattr(app.settings, name, None)
        self.state: Any = None

    def __repr__(self) -> str:
        return f"<PluginContext {self.name!r} ({self.info.origin})>"


class HookRunner:
    """Calls one app's hooks through its plugin manager."""

    def __init__(
        self, manager: pluggy.PluginManager, contexts: Mapping[str, PluginContext | None]
    ) -> None:
        self.manager = manager
        self.contexts = contexts
        # A check that hangs keeps its thread; a small bounded pool keeps that from spreading.
        self._health_pool: ThreadPoolExecutor | None = None
        # The check names each plugin last reported, so that a plugin that fails or times out
        # marks *those* checks down instead of reporting under a name of its own.
        self._check_names: dict[str, list[str]] = {}

    # -- ordering -------------------------------------------------------------------------

    def _ordered(
        self,
        hook_name: str,
        adapt: Callable[[pluggy.HookImpl], Callable[..., Any]],
        *,
        reverse: bool = False,
        only: Iterable[str] | None = None,
        innermost: pluggy.HookImpl | None = None,
    ) -> list[pluggy.HookImpl]:
        """The hook's implementations, adapted, in the list form pluggy's executor expects
        for them to run: ``tryfirst`` ones, the others in registration order (or its
        reverse), then ``trylast`` ones; wrappers around all of them."""
        impls = getattr(self.manager.hook, hook_name).get_hookimpls()
        if only is not None:
            keep = set(only)
            impls = [impl for impl in impls if impl.plugin_name in keep]
        rank = {name: index for index, name in enumerate(self.contexts)}
        plain = [impl for impl in impls if not (impl.wrapper or impl.hookwrapper)]
        wrappers = [impl for impl in impls if impl.wrapper or impl.hookwrapper]

        def position(impl: pluggy.HookImpl) -> tuple[int, int]:
            group = 0 if impl.tryfirst else 2 if impl.trylast else 1
            index = rank.get(impl.plugin_name, len(rank))
            return group, -index if reverse else index

        calls = [_replaced(impl, adapt(impl)) for impl in sorted(plain, key=position)]
        outer = [_replaced(impl, adapt(impl)) for impl in wrappers]
        # pluggy runs the list from its end: the last wrapper is the outermost.
        return [*reversed(calls), *([innermost] if innermost else []), *outer]

    def _execute(self, hook_name: str, impls: list[pluggy.HookImpl], **kwargs: Any) -> Any:
        # The manager's executor, so pluggy's own tracing and monitoring see the call.
        return self.manager._hookexec(hook_name, impls, kwargs, False)

    def _argument(self, impl: pluggy.HookImpl, *, with_plugin: bool) -> Callable[..., Any]:
        """``impl.function`` with ``plugin`` bound to its own context."""
        function = impl.function
        context = self.contexts.get(impl.plugin_name)
        if not with_plugin or "plugin" not in impl.argnames:
            return function
        index = impl.argnames.index("plugin")

        @functools.wraps(function)
        def with_context(*args: Any, **kwargs: Any) -> Any:
            args = (*args[:index], context, *args[index + 1 :])
            return function(*args, **kwargs)

        return with_context

    # -- set-up hooks -----------------------------------------------------------------------

    def call_setup(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """A construction-time hook (``configure_app``, ``register_error_handlers``), in
        registration order; a failure stops start-up with the plugin's name."""

        def adapt(impl: pluggy.HookImpl) -> Callable[..., Any]:
            function = self._argument(impl, with_plugin=True)
            if impl.wrapper or impl.hookwrapper:
                return _named_wrapper(function, impl.plugin_name, hook_name)

            @functools.wraps(function)
            def named(*args: Any, **kw: Any) -> Any:
                token = current_owner.set(impl.plugin_name)
                try:
                    return function(*args, **kw)
                except PluginError:
                    raise
                except Exception as error:
                    raise _failure(impl.plugin_name, hook_name, error) from error
                finally:
                    current_owner.reset(token)

            return named

        impls = self._ordered(hook_name, adapt)
        result: list[Any] = self._execute(hook_name, impls, **kwargs, plugin=None)
        return result

    def settings_models(self, names: Iterable[str]) -> dict[str, Any]:
        """Each plugin's settings model, from its own ``settings_model`` implementation."""
        from pydantic import BaseModel

        models: dict[str, Any] = dict.fromkeys(names)

        def adapt(impl: pluggy.HookImpl) -> Callable[..., Any]:
            function = impl.function
            if impl.wrapper or impl.hookwrapper:
                return function

            @functools.wraps(function)
            def attributed(*args: Any) -> Any:
                try:
                    model = function(*args)
                except Exception as error:
                    raise _failure(impl.plugin_name, "settings_model", error) from error
                ok = model is None or (isinstance(model, type) and issubclass(model, BaseModel))
                if not ok:
                    raise PluginError(
                        f"plugin {impl.plugin_name!r}: settings_model() must return a pydantic "
                        f"model class (a chassis.PluginSettings subclass), not {model!r}"
                    )
                return (impl.plugin_name, model)

            return attributed

        for found in self._execute("settings_model", self._ordered("settings_model", adapt)):
            if isinstance(found, tuple) and len(found) == 2 and found[0] in models:
                models[found[0]] = found[1]
        return models

    # -- lifecycle hooks ----------------------------------------------------------------

    async def start(self, app: Any) -> None:
        """``startup`` in registration order; on a failure, ``shutdown`` for the plugins that
        had started (in reverse), then a :class:`PluginError` naming the plugin."""
        started: list[str] = []
        try:
            await self._lifecycle("startup", app, started)
        except PluginError as error:
            logger.error("%s", error)
            await self.stop(app, only=started)
            raise

    async def stop(self, app: Any, only: Iterable[str] | None = None) -> None:
        """``shutdown`` in reverse registration order; a failure is logged with the plugin's
        name and the other plugins still shut down."""
        await self._lifecycle("shutdown", app, None, only=only)

    async def _lifecycle(
        self, hook_name: str, app: Any, started: list[str] | None, only: Iterable[str] | None = None
    ) -> None:
        # pluggy's executor is synchronous: it runs in a worker thread, and each
        # implementation runs on this event loop (the server's), awaited when it is async.
        loop = asyncio.get_running_loop()
        stopping = hook_name == "shutdown"

        def adapt(impl: pluggy.HookImpl) -> Callable[..., Any]:
            function = self._argument(impl, with_plugin=True)
            if impl.wrapper or impl.hookwrapper:
                return _named_wrapper(function, impl.plugin_name, hook_name)

            async def run(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
                result = function(*args, **kwargs)
                return await result if inspect.isawaitable(result) else result

            @functools.wraps(function)
            def on_loop(*args: Any, **kwargs: Any) -> Any:
                try:
                    asyncio.run_coroutine_threadsafe(run(args, kwargs), loop).result()
                except Exception as error:
                    failure = _failure(impl.plugin_name, hook_name, error)
                    if stopping:
                        logger.error("%s", failure, exc_info=error)
                        return None
                    raise failure from error
                if started is not None:
                    started.append(impl.plugin_name)
                return None

            return on_loop

        impls = self._ordered(hook_name, adapt, reverse=stopping, only=only)
        if not impls:
            return
        call = functools.partial(self._execute, hook_name, impls, app=app, plugin=None)
        await asyncio.to_thread(call)

    # -- health -----------------------------------------------------------------------------

    async def health(
        self,
        app: Any,
        timeout: float,
        *,
        only: Iterable[str] | None = None,
        durations: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        """Every ``health_info`` check, each started at once (sync ones in a worker thread)
        and given ``timeout`` seconds; a failure or time-out marks that plugin's checks down.

        pluggy collects what each implementation started; a wrapper of the kernel's, inside
        the plugins' own wrappers, waits for them, so those wrappers see the reports.
        ``only``: just these plugins' checks; ``durations``: filled with each check's seconds.
        """
        loop = asyncio.get_running_loop()
        finished: dict[str, float] = {}
        if self._health_pool is None:
            self._health_pool = ThreadPoolExecutor(8, thread_name_prefix="chassis-health")
        pool = self._health_pool

        def adapt(impl: pluggy.HookImpl) -> Callable[..., Any]:
            function = self._argument(impl, with_plugin=True)
            if impl.wrapper or impl.hookwrapper:
                return function

            @functools.wraps(function)
            def started(*args: Any, **kwargs: Any) -> tuple[str, Future[Any]]:
                name = impl.plugin_name
                began = time.perf_counter()
                if inspect.iscoroutinefunction(impl.function):
                    coroutine = asyncio.wait_for(function(*args, **kwargs), timeout)
                    future = asyncio.run_coroutine_threadsafe(coroutine, loop)
                else:
                    # In a copy of this context, so the check's log lines carry the request id.
                    call = contextvars.copy_context().run
                    future = pool.submit(call, function, *args, **kwargs)
                future.add_done_callback(
                    lambda _: finished.__setitem__(name, time.perf_counter() - began)
                )
                return name, future

            return started

        def resolve() -> Generator[None, Any, list[dict[str, Any]]]:
            pending: list[tuple[str, Future[Any]]] = yield
            deadline = loop.time() + timeout
            reports = []
            for name, future in pending:
                try:
                    found = future.result(max(0.0, deadline - loop.time()))
                except (FutureTimeout, asyncio.TimeoutError):
                    future.cancel()
                    logger.warning("health check of plugin %r timed out after %s s", name, timeout)
                    reports.append(self._down(name, f"timed out after {timeout:g} s"))
                except Exception as error:
                    logger.warning("health check of plugin %r failed: %r", name, error)
                    detail = redact_credentials(f"{type(error).__name__}: {error}")
                    reports.append(self._down(name, detail))
                else:
                    reports.append(self._checks(name, found))
                if durations is not None:
                    seconds = finished.get(name, timeout)
                    durations.update(dict.fromkeys(reports[-1], seconds))
            return reports

        innermost = pluggy.HookImpl(None, "chassis", resolve, _WRAPPER_OPTIONS)
        impls = self._ordered("health_info", adapt, only=only, innermost=innermost)
        call = functools.partial(self._execute, "health_info", impls, app=app, plugin=None)
        reports = await asyncio.to_thread(call)
        checks: dict[str, Any] = {}
        for report in reports:
            if isinstance(report, dict):
                checks.update(report)
        return checks

    def _checks(self, plugin: str, found: Any) -> dict[str, Any]:
        if found is None:
            return {}
        if not isinstance(found, dict):
            return {
                plugin: {"status": DOWN, "error": f"health_info returned {type(found).__name__}"}
            }
        checks = {}
        for check, detail in found.items():
            if not isinstance(detail, dict) or detail.get("status") not in (UP, DOWN):
                detail = {"status": DOWN, "error": f"invalid report: {detail!r}"[:200]}
            checks[str(check)] = redact_values(detail)
        self._check_names[plugin] = list(checks)
        return checks

    def _down(self, plugin: str, error: str) -> dict[str, Any]:
        names = self._check_names.get(plugin, [plugin])
        return {check: {"status": DOWN, "error": error} for check in names}

    def close(self) -> None:
        if self._health_pool is not None:
            self._health_pool.shutdown(wait=False)
            self._health_pool = None


_WRAPPER_OPTIONS: Any = {
    "wrapper": True,
    "hookwrapper": False,
    "optionalhook": False,
    "tryfirst": False,
    "trylast": False,
    "specname": None,
}


def _replaced(impl: pluggy.HookImpl, function: Callable[..., Any]) -> pluggy.HookImpl:
    if function is impl.function:
        return impl
    return pluggy.HookImpl(impl.plugin, impl.plugin_name, function, impl.opts)


def _failure(plugin: str, hook_name: str, error: BaseException) -> PluginError:
    if isinstance(error, PluginError):
        return error
    return PluginError(
        redact_credentials(
            f"plugin {plugin!r} failed in {hook_name}: {type(error).__name__}: {error}"
        )
    )


def _named_wrapper(function: Callable[..., Any], plugin: str, hook_name: str) -> Callable[..., Any]:
    """A ``wrapper=True`` implementation whose own errors name its plugin."""

    @functools.wraps(function)
    def named(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        # Layers the wrapper adds, before or after the others ran, are its plugin's.
        token = current_owner.set(plugin)
        try:
            return (yield from function(*args, **kwargs))
        except PluginError:
            raise
        except Exception as error:
            raise _failure(plugin, hook_name, error) from error
        finally:
            current_owner.reset(token)

    return named


def plugin_contexts(
    app: Any, manager: pluggy.PluginManager, infos: Mapping[str, PluginInfo]
) -> dict[str, PluginContext]:
    """A context for each registered plugin, in registration order."""
    return {
        name: PluginContext(name, info.plugin, app, info)
        for name, info in infos.items()
        if info.enabled and manager.get_plugin(name) is not None
    }
