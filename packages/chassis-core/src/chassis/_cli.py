"""The ``chassis`` command: plugins, settings, stack, run, info, health, new-plugin."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from ._plugins import PluginError, PluginInfo
from ._redact import redact_values
from ._settings import SettingsError, kernel_settings


def _plugins_report() -> tuple[list[PluginInfo], str | None]:
    """Every installed plugin and why it is on or off, as the environment's settings say."""
    from . import _plugins
    from ._settings import read_bootstrap

    installed = _plugins.discover()
    bootstrap = read_bootstrap({}, installed)
    order, infos = _plugins.select(installed, bootstrap, ())
    manager = _plugins.new_manager()
    error = None
    for name in order:
        try:
            _plugins.register(manager, infos[name], _plugins.load(installed[name]))
        except PluginError as failure:
            infos[name].reason = f"error: {failure}"
            error = str(failure)
    return list(infos.values()), error


def cmd_plugins(args: argparse.Namespace) -> int:
    infos, error = _plugins_report()
    if args.json:
        print(json.dumps([_info_dict(info) for info in infos], indent=2))
    elif not infos:
        print("no chassis plugins installed (entry point group 'chassis.plugins')")
    else:
        for info in infos:
            state = "enabled " if info.enabled else "disabled"
            print(f"{info.name:<14} {state} {info.origin:<32} {info.reason}".rstrip())
            if info.hooks:
                print(f"{'':<24}hooks: {', '.join(info.hooks)}")
    return 1 if error else 0


def _info_dict(info: PluginInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "distribution": info.distribution,
        "version": info.version,
        "entry_point": info.entry_point,
        "enabled": info.enabled,
        "reason": info.reason or None,
        "hooks": info.hooks,
    }


def cmd_settings(args: argparse.Namespace) -> int:
    if args.app:
        settings = _load_app(args.app, factory=args.factory).settings
    else:
        from ._loader import load_plugins

        try:
            settings = load_plugins({}).settings
        except SettingsError as error:
            if "unknown setting" not in str(error):
                raise
            raise SettingsError(
                f"{error}\n  (plugins that a service passes to App(plugins=...) are known only "
                "to it: name the app, chassis settings module:app)"
            ) from None
    values = printable_settings(settings)
    if args.schema:
        print(json.dumps(type(settings).model_json_schema(), indent=2))
    elif args.json:
        print(json.dumps(values, indent=2))
    else:
        for key, value in _flatten(values):
            print(f"{key} = {json.dumps(value)}")
    return 0


# A whole URL, without white space (a value that merely starts like one stays masked).
_SECRET_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<netloc>[^/?#\s]*)(?P<path>[^?#\s]*)"
    r"(?P<rest>[?#]\S*)?"
)
MASK = "**********"  # pydantic's own mask of a SecretStr


def mask_secret(value: str) -> str:
    """How a secret setting is printed: a URL keeps its scheme, host, port and database
    (``postgresql://***@db:5432/app``), anything else is :data:`MASK`.

    The user and password become ``***@``; a query or fragment (``?password=...``) becomes
    ``?***`` or ``#***``; a path of more than one segment (a token in a webhook's path)
    becomes ``/***``.
    """
    match = _SECRET_URL.fullmatch(value)
    if match is None:
        return MASK if value else ""
    _, at, host = match["netloc"].rpartition("@")
    path = match["path"]
    rest = match["rest"] or ""
    return (
        f"{match['scheme']}://{'***@' if at else ''}{host}"
        + (path if path.count("/") <= 1 else "/***")
        + (rest[0] + "***" if rest else "")
    )


def printable_settings(settings: Any) -> Any:
    """``settings`` as JSON-like data to print: secrets masked by :func:`mask_secret`, and
    ``user:password@`` taken out of URLs in plain settings too."""
    return redact_values(_mask(settings.model_dump(), settings.model_dump(mode="json")))


def _mask(raw: Any, shown: Any) -> Any:
    """``shown`` (the JSON dump, secrets as ``**********``) with each secret that ``raw`` (the
    Python dump, secrets as ``SecretStr``) holds at the same place given by :func:`mask_secret`."""
    if isinstance(raw, SecretStr):
        return mask_secret(raw.get_secret_value())
    if isinstance(raw, dict) and isinstance(shown, dict):
        return {key: _mask(raw.get(key), value) for key, value in shown.items()}
    if isinstance(raw, (list, tuple)) and isinstance(shown, list) and len(raw) == len(shown):
        return [_mask(item, value) for item, value in zip(raw, shown, strict=True)]
    return shown


def _load_app(target: str, *, factory: bool) -> Any:
    """The :class:`chassis.App` that ``module:attribute`` names (or that it returns)."""
    from uvicorn.importer import ImportFromStringError, import_from_string

    from ._base import BaseApp

    sys.path.insert(0, str(Path.cwd()))
    # Importing or building the app may configure logging to stdout: keep stdout for the
    # report (--json).
    with contextlib.redirect_stdout(sys.stderr):
        try:
            found = import_from_string(target)
        except ImportFromStringError as error:
            raise SettingsError(f"cannot import the app: {error}") from None
        app = found() if factory else found
    if not isinstance(app, BaseApp):
        hint = " (a factory? add --factory)" if callable(app) and not factory else ""
        raise SettingsError(f"{target!r} is not a chassis.App{hint}")
    return app


def cmd_stack(args: argparse.Namespace) -> int:
    rows = _load_app(args.app, factory=args.factory).stack()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        print(f"{row['name']:<{width}}  {row['slot'] or '-':<20} {row['owner']}")
    return 0


def _flatten(data: dict[str, Any], prefix: str = "CHASSIS_") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key.upper()}"
        if isinstance(value, dict):
            rows.extend(_flatten(value, name + "__"))
        else:
            rows.append((name, value))
    return rows


def cmd_run(args: argparse.Namespace) -> int:
    import uvicorn

    sys.path.insert(0, str(Path.cwd()))
    graceful_timeout = args.graceful_timeout
    if graceful_timeout is None:  # the service's own setting (environment, .env, TOML)
        graceful_timeout = kernel_settings().shutdown.grace_seconds
    extra: dict[str, Any] = {}
    if args.header_timeout > 0:
        try:
            from .server import HEADER_TIMEOUT_VARIABLE, PROTOCOL_IMPORT_STRING
        except ImportError:  # uvicorn without httptools: h11, no deadline
            pass
        else:
            # --workers and --reload start each worker with multiprocessing's "spawn": the
            # protocol must be importable by name there, and the deadline reaches it in the
            # environment the workers inherit (a class made here could not be pickled).
            os.environ[HEADER_TIMEOUT_VARIABLE] = repr(float(args.header_timeout))
            extra["http"] = PROTOCOL_IMPORT_STRING
    management = kernel_settings().management
    management_port = args.management_port or management.port
    run: Callable[..., Any] = uvicorn.run
    if management_port is not None and management_port == args.port:
        raise SettingsError(
            f"the management port ({management_port}, --management-port or "
            "CHASSIS_MANAGEMENT__PORT) must differ from --port"
        )
    if management_port is not None:
        from ._serve import serve_with_management_port

        extra["management_host"] = args.management_host or management.host or args.host
        extra["management_port"] = management_port
        run = serve_with_management_port
    run(
        args.app,
        **extra,
        host=args.host,
        port=args.port,
        workers=args.workers,
        factory=args.factory,
        reload=args.reload,
        proxy_headers=True,
        # uvicorn takes whole seconds: round up, never down to "cancel at once".
        timeout_graceful_shutdown=math.ceil(graceful_timeout),
    )
    return 0


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from ._scaffold import write_plugin

    try:
        path = write_plugin(args.name, Path(args.directory))
    except (ValueError, FileExistsError) as error:
        print(f"chassis new-plugin: {error}", file=sys.stderr)
        return 2
    print(f"created {path}: {install_and_test_command(path)}")
    return 0


def install_and_test_command(path: Path) -> str:
    """What installs a new plugin with its test dependencies and runs its tests: pytest of the
    same environment (``python -m``), not whichever ``pytest`` comes first on ``PATH``."""
    with_extra = shlex.quote(f"{path}[test]")
    return f"pip install -e {with_extra} && python -m pytest {shlex.quote(str(path))}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chassis", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    plugins = commands.add_parser("plugins", help="installed plugins and whether they load")
    plugins.add_argument("--json", action="store_true")
    plugins.set_defaults(func=cmd_plugins)

    settings = commands.add_parser("settings", help="effective settings (secrets masked)")
    settings.add_argument(
        "app",
        nargs="?",
        help="'module:attribute' of the service's App, to include the plugins it passes itself",
    )
    settings.add_argument("--factory", action="store_true", help="APP is a function")
    form = settings.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true")
    form.add_argument("--schema", action="store_true", help="the JSON schema of every setting")
    settings.set_defaults(func=cmd_settings)

    stack = commands.add_parser(
        "stack", help="the request path: each layer's name, slot and owner, outermost first"
    )
    stack.add_argument("app", help="'module:attribute' of the service's App")
    stack.add_argument("--factory", action="store_true", help="APP is a function")
    stack.add_argument("--json", action="store_true")
    stack.set_defaults(func=cmd_stack)

    run = commands.add_parser("run", help="serve an app with uvicorn")
    run.add_argument("app", help="import string, 'module:attribute'")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--workers", type=int, default=None)
    run.add_argument("--factory", action="store_true", help="APP is a function returning the app")
    run.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    run.add_argument(
        "--graceful-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds in-flight requests get after SIGTERM and the drain delay "
        "(default: CHASSIS_SHUTDOWN__GRACE_SECONDS, 30)",
    )
    run.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="close connections whose request headers have not arrived in time (0: never)",
    )
    run.add_argument(
        "--management-port",
        type=int,
        default=None,
        metavar="PORT",
        help="also listen on PORT, which alone serves probes, /info, /loggers and /metrics "
        "(default: CHASSIS_MANAGEMENT__PORT; unset: none, everything on --port)",
    )
    run.add_argument(
        "--management-host",
        default=None,
        metavar="HOST",
        help="address of the management port (default: CHASSIS_MANAGEMENT__HOST, else --host)",
    )
    run.set_defaults(func=cmd_run)

    from ._cli_ops import add_commands

    add_commands(commands)

    new = commands.add_parser("new-plugin", help="write a ready-to-install plugin distribution")
    new.add_argument("name", help="the plugin's name: lower case letters, digits, underscores")
    new.add_argument("--directory", default=".", help="where to create chassis-NAME/")
    new.set_defaults(func=cmd_new_plugin)
    return parser


KERNEL_COMMANDS = ("plugins", "settings", "stack", "run", "new-plugin")


def add_plugin_commands(parser: argparse.ArgumentParser) -> None:
    """The commands installed plugins add (``add_cli_commands``); a plugin that fails to
    import adds none (``chassis plugins`` says why)."""
    from . import _plugins

    commands = next(
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    )
    try:
        installed = _plugins.discover()
    except PluginError:
        return
    manager = _plugins.new_manager()
    for name, entry_point in sorted(installed.items()):
        info = PluginInfo(name, entry_point.dist.name if entry_point.dist else None)
        try:
            _plugins.register(manager, info, _plugins.load(entry_point))
        except PluginError:
            continue
    manager.hook.add_cli_commands(commands=commands, load_app=_load_app)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    first = next((arg for arg in given if not arg.startswith("-")), None)
    if first not in KERNEL_COMMANDS:
        add_plugin_commands(parser)
    args = parser.parse_args(given)
    try:
        code: int = args.func(args)
    except (SettingsError, PluginError) as error:
        print(f"chassis {args.command}: {error}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
