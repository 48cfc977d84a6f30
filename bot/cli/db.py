"""`couplet db upgrade|downgrade [REV]|current`: manage the database schema."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from sqlalchemy.exc import SQLAlchemyError

from bot.cli.startup import EXIT_BAD_SETTING, load_settings
from bot.settings import Settings
from bot.storage import Database

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "db",
        help="migrate the database (DATABASE_URL)",
        description="Apply, revert or show the database migrations for DATABASE_URL.",
    )
    actions = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = actions.add_parser("upgrade", help="migrate to the newest schema (or REV)")
    up.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
    down = actions.add_parser("downgrade", help="go back one revision (or to REV, e.g. base)")
    down.add_argument(
        "revision", nargs="?", default="-1", help="target revision (default: -1, one step back)"
    )
    actions.add_parser("current", help="show the revision the database is at")
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    # Here, not at the top: `couplet run` imports this module too, and needs
    # Alembic only when there is something to migrate.
    from alembic.util import CommandError

    settings = load_settings()
    if settings is None:
        return EXIT_BAD_SETTING
    try:
        return asyncio.run(_run(settings, args.db_command, getattr(args, "revision", None)))
    except CommandError as err:  # e.g. an unknown revision
        print(f"couplet db {args.db_command}: {err}", file=sys.stderr)
        return 2
    except (OSError, SQLAlchemyError) as err:
        # Unreachable server, bad credentials, unwritable file: one line, no traceback.
        reason = getattr(err, "orig", None) or err
        print(f"couplet db {args.db_command}: cannot use the database: {reason}", file=sys.stderr)
        return 1


async def _run(settings: Settings, action: str, revision: str | None) -> int:
    db = Database(settings.database_url)
    where = db.url.render_as_string(hide_password=True)
    try:
        if action == "upgrade":
            await db.upgrade(revision or "head")
            print(f"{where} is at revision {await db.current()}.")
        elif action == "downgrade":
            await db.downgrade(revision or "-1")
            current = await db.current()
            print(f"{where} is at revision {current or 'base (no tables)'}.")
        else:
            current = await db.current()
            print(f"{where}: {current if current else 'no revision (run couplet db upgrade)'}")
        return 0
    finally:
        await db.dispose()
