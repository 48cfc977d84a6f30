"""`couplet sandbox`: try the bot offline, in a terminal, against a local Discord."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from bot.cli.startup import EXIT_BAD_SETTING, configure_logging, load_settings
from bot.settings import Settings

# Seconds to wait for the bot's answer to each line.
REPLY_TIMEOUT = 180.0


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
        "--locale",
        default=None,
        help="your Discord client's language, sent with each interaction (e.g. zh-CN; "
        "default en-US)",
    )
    parser.add_argument(
        "--database-url", default=None, help="database to use (default: a temporary SQLite file)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=REPLY_TIMEOUT,
        help=f"seconds to wait for each reply (default {REPLY_TIMEOUT:g})",
    )
    parser.add_argument("--verbose", action="store_true", help="show the bot's logs")
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings is None:
        return EXIT_BAD_SETTING
    if args.locale is not None:
        from bot.sandbox.openapi import locales

        if args.locale not in locales():
            print(
                f"--locale {args.locale!r} is not a Discord locale: use one of "
                f"{', '.join(sorted(locales()))}.",
                file=sys.stderr,
            )
            return EXIT_BAD_SETTING
    return run_terminal(
        settings,
        member=args.member,
        channel=args.channel,
        locale=args.locale,
        database_url=args.database_url,
        reply_timeout=args.timeout,
        verbose=args.verbose,
    )


def run_terminal(
    settings: Settings,
    *,
    member: str | None = None,
    channel: str | None = None,
    database_url: str | None = None,
    reply_timeout: float = REPLY_TIMEOUT,
    verbose: bool = False,
    locale: str | None = None,
) -> int:
    """Run the sandbox on this terminal (also what `couplet run` does without a token)."""
    if verbose:
        configure_logging(settings.log_level)
    else:
        # Replies go to stdout; keep the logs to real problems.
        logging.getLogger().setLevel(logging.WARNING)
        logging.getLogger("discord").setLevel(logging.ERROR)
    from bot.local_model import LocalModelError
    from bot.sandbox.session import run_sandbox

    try:
        return asyncio.run(
            run_sandbox(
                settings,
                member=member,
                channel=channel,
                database_url=database_url,
                reply_timeout=reply_timeout,
                locale=locale,
            )
        )
    except LocalModelError as err:
        print(f"The local model could not start: {err}", file=sys.stderr)
        return 1
    except LookupError as err:  # --as or --channel names nobody in the sandbox server
        print(f"Cannot start the sandbox: {err}.", file=sys.stderr)
        return EXIT_BAD_SETTING
    except KeyboardInterrupt:  # Ctrl-C outside the prompt: everything was stopped already
        return 130
