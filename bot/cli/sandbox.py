"""`couplet sandbox`: try the bot offline, in a terminal, against a local Discord."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from bot.cli.startup import EXIT_BAD_SETTING, load_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="try the bot offline in a terminal",
        description=(
            "Start a local Discord, the bundled model (unless COMPLETIONS_BASE_URL is set) "
            "and the bot, then type slash commands as in Discord, e.g. "
            '/complete prompt:"Once upon a time" max_tokens:16. Reads standard input, '
            "so it can be scripted."
        ),
    )
    parser.add_argument(
        "--as", dest="member", default=None, help="member to act as (default alice)"
    )
    parser.add_argument("--channel", default=None, help="channel to start in (default general)")
    parser.add_argument(
        "--database-url", default=None, help="database to use (default: a temporary SQLite file)"
    )
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="seconds to wait for each reply (default 180)"
    )
    parser.add_argument("--verbose", action="store_true", help="show the bot's logs")
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings is None:
        return EXIT_BAD_SETTING
    if not args.verbose:
        # Replies go to stdout; keep the logs to real problems.
        logging.getLogger().setLevel(logging.WARNING)
        logging.getLogger("discord").setLevel(logging.ERROR)
    from bot.sandbox.session import run_sandbox

    return asyncio.run(
        run_sandbox(
            settings,
            member=args.member,
            channel=args.channel,
            database_url=args.database_url,
            reply_timeout=args.timeout,
        )
    )
