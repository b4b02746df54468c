"""``chassis db upgrade|downgrade|current|revision|init``: alembic for a service's database,
configured from the service's own settings (made for a Kubernetes init container:
``chassis db upgrade directmail.service:create_app --factory``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import _migrations
from ._engines import Database
from ._settings import DEFAULT


def add_commands(commands: Any, load_app: Callable[..., Any]) -> None:
    db = commands.add_parser(
        "db", help="database migrations (alembic) of an app: upgrade, downgrade, current..."
    )
    actions = db.add_subparsers(dest="db_command", required=True)

    def with_app(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("app", help="'module:attribute' of the service's App")
        parser.add_argument("--factory", action="store_true", help="APP is a function")
        parser.add_argument(
            "--database", default=DEFAULT, help="a database of CHASSIS_SQLALCHEMY__DATABASES"
        )
        return parser

    upgrade = with_app(actions.add_parser("upgrade", help="migrate to a revision (head)"))
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.add_argument("--sql", action="store_true", help="print the SQL, run nothing")
    upgrade.set_defaults(func=_run(load_app, "upgrade"))

    downgrade = with_app(actions.add_parser("downgrade", help="migrate back to a revision"))
    downgrade.add_argument("revision", help="a revision, or -1 for the previous one")
    downgrade.add_argument("--sql", action="store_true", help="print the SQL, run nothing")
    downgrade.set_defaults(func=_run(load_app, "downgrade"))

    current = with_app(actions.add_parser("current", help="the database's revision"))
    current.add_argument("--verbose", "-v", action="store_true")
    current.set_defaults(func=_run(load_app, "current"))

    revision = with_app(actions.add_parser("revision", help="a new migration script"))
    revision.add_argument("-m", "--message", required=True)
    revision.add_argument(
        "--autogenerate", action="store_true", help="from the models against the database"
    )
    revision.add_argument("--rev-id", default=None)
    revision.set_defaults(func=_run(load_app, "revision"))

    init = actions.add_parser("init", help="a new migrations directory for chassis-sqlalchemy")
    init.add_argument("directory")
    init.add_argument(
        "--metadata", default=None, help="'module:Base.metadata' of the models (autogenerate)"
    )
    init.set_defaults(func=_init)


def _run(load_app: Callable[..., Any], action: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        database = _database(load_app(args.app, factory=args.factory), args.database)
        try:
            if action == "upgrade":
                _migrations.upgrade(database, args.revision, sql=args.sql)
            elif action == "downgrade":
                _migrations.downgrade(database, args.revision, sql=args.sql)
            elif action == "current":
                _migrations.current(database, verbose=args.verbose)
            else:
                _migrations.revision(
                    database, args.message, autogenerate=args.autogenerate, rev_id=args.rev_id
                )
        except LookupError as error:
            print(f"chassis db {action}: {error}", file=sys.stderr)
            return 2
        except Exception as error:
            # alembic's and the driver's errors, without a traceback (nor a password).
            from chassis import redact_credentials

            message = redact_credentials(f"{type(error).__name__}: {error}")
            print(
                f"chassis db {action} ({database.name}: {database.url}): {message}", file=sys.stderr
            )
            return 1
        return 0

    return run


def _database(app: Any, name: str) -> Database:
    from chassis import SettingsError

    context = app.plugin_context("sqlalchemy")
    if context is None or context.state is None:
        raise SettingsError(
            "the app does not use the sqlalchemy plugin (pip install chassis-sqlalchemy; "
            "CHASSIS_PLUGINS must list it when set)"
        )
    try:
        found: Database = context.state.get(name)
    except LookupError as error:
        raise SettingsError(str(error)) from None
    return found


def _init(args: argparse.Namespace) -> int:
    try:
        made = _migrations.init(Path(args.directory), args.metadata)
    except FileExistsError as error:
        print(f"chassis db init: {error}", file=sys.stderr)
        return 2
    print(f"created {', '.join(str(path) for path in made)}")
    print(
        "set CHASSIS_SQLALCHEMY__MIGRATIONS to that directory (or 'package:directory'), then: "
        'chassis db revision APP -m "first" --autogenerate'
    )
    return 0
