"""``chassis info`` and ``chassis health``: what /info and the health groups say, for scripts
and containers that have no curl.

With an APP (``module:attribute``), the app is built here, its lifespan runs (plugins'
``startup``, so their checks see what they set up), and the endpoint is asked in process,
through the app's own request path (on the management port when one is set). With ``--url``,
a running server is asked instead (a Docker ``HEALTHCHECK``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import urllib.error
import urllib.request
from typing import Any

from ._settings import SettingsError


def _ask(target: str, factory: bool, path_of: Any) -> tuple[int, Any]:
    """Build the app, run its lifespan, GET the path ``path_of(settings)`` gives."""
    from ._cli import _load_app

    app = _load_app(target, factory=factory)
    port = app.settings.management.port
    base = f"http://chassis-cli:{port}" if port else "http://chassis-cli"
    # Start-up log lines go to stderr: stdout is for the report.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            with app.test_client(base_url=base) as client:
                response = client.get(path_of(app.settings))
        except Exception as error:
            return 503, {"status": "down", "error": f"start-up failed: {error}"}
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, {"status": "down", "error": response.text[:500]}


def _fetch(url: str, timeout: float) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return 0, {"status": "down", "error": f"cannot reach {url}: {reason}"}
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, {"status": "down" if status >= 400 else "up", "body": raw[:500].decode()}


def cmd_info(args: argparse.Namespace) -> int:
    if args.url:
        status, body = _fetch(args.url, args.timeout)
    else:
        status, body = _ask(args.app, args.factory, lambda settings: settings.info.path)
        if status == 404:
            raise SettingsError("the app serves no /info: CHASSIS_INFO__ENABLED is false")
    print(json.dumps(body, indent=2))
    return 0 if status == 200 else 1


def cmd_health(args: argparse.Namespace) -> int:
    if args.url:
        status, body = _fetch(args.url, args.timeout)
    else:
        group = args.group

        def group_path(settings: Any) -> str:
            return f"{settings.health.groups_path.rstrip('/')}/{group}"

        status, body = _ask(args.app, args.factory, group_path)
        if status == 404:
            raise SettingsError(body.get("detail") or f"no health group {group!r}")
    if not args.quiet:
        print(json.dumps(body, indent=2))
    return 0 if 200 <= status < 300 else 1


def add_commands(commands: Any) -> None:
    info = commands.add_parser(
        "info", help="what GET /info says: service, build, chassis, plugins, Python"
    )
    _target(info)
    info.set_defaults(func=cmd_info)

    health = commands.add_parser(
        "health", help="run a health group's checks; exit status 0 when up, 1 when down"
    )
    _target(health)
    health.add_argument(
        "--group",
        default="readiness",
        help="liveness, readiness (default), startup, or a group of CHASSIS_HEALTH__GROUPS",
    )
    health.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    health.set_defaults(func=cmd_health)


def _target(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("app", nargs="?", help="'module:attribute' of the service's App")
    where.add_argument("--url", help="ask a running server at this URL instead")
    parser.add_argument("--factory", action="store_true", help="APP is a function")
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="seconds to wait for --url (default 5)"
    )
