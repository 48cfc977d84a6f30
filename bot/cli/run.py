"""`couplet run`: the bot on Discord when DISCORD_TOKEN is set, else the sandbox
(a local Discord in this terminal); the bundled model when no backend is set."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from bot.cli.startup import EXIT_BAD_SETTING, configure_logging, load_settings
from bot.local_model import LocalModelError, LocalModelFallback
from bot.settings import Settings

log = logging.getLogger(__name__)

TOKEN_HELP = (
    "put DISCORD_TOKEN=… in .env (the bot token of an application from "
    "https://discord.com/developers/applications)"
)
NO_TOKEN = f"DISCORD_TOKEN is not set: {TOKEN_HELP}."
SANDBOX_BANNER = (
    "No DISCORD_TOKEN, so this is the sandbox: the real bot on a local Discord emulator, "
    "in this terminal, with the bundled model unless COMPLETIONS_BASE_URL is set.\n"
    f"To connect a real Discord, {TOKEN_HELP} and run again."
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the Discord bot (the sandbox when DISCORD_TOKEN is not set)",
        description="Run the Discord bot. Settings come from the environment and .env. "
        "Without DISCORD_TOKEN it starts the sandbox: the same bot on a local Discord, "
        "in this terminal.",
    )
    parser.add_argument(
        "--require-token",
        action="store_true",
        help="exit with an error instead of starting the sandbox when DISCORD_TOKEN "
        "is not set (for deployments)",
    )
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings is None:
        return EXIT_BAD_SETTING
    token = settings.discord_token.get_secret_value().strip() if settings.discord_token else ""
    if not token:
        if args.require_token:
            print(NO_TOKEN, file=sys.stderr)
            return EXIT_BAD_SETTING
        from bot.cli.sandbox import run_terminal

        print(SANDBOX_BANNER, flush=True)
        return run_terminal(settings)
    configure_logging(settings.log_level)
    return asyncio.run(run(settings, token))


async def run(settings: Settings, token: str) -> int:
    """Run until the bot stops or SIGINT/SIGTERM arrives; then close everything."""
    # Imported here so a missing token with --require-token is answered at once.
    import discord

    from bot.app import CoupletBot

    local = LocalModelFallback(settings, say=lambda line: print(line, flush=True))
    try:
        settings = await local.astart()
    except LocalModelError as err:
        print(f"The local model could not start: {err}", file=sys.stderr)
        return 1

    bot = CoupletBot(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    bot_task = asyncio.create_task(bot.start(token), name="couplet-bot")
    stop_task = asyncio.create_task(stop.wait(), name="couplet-stop")
    code = 0
    try:
        await asyncio.wait({bot_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        if bot_task.done() and not bot_task.cancelled():
            error = bot_task.exception()
            if isinstance(error, discord.LoginFailure):
                print("Discord rejected DISCORD_TOKEN: check the token.", file=sys.stderr)
                code = 1
            elif error is not None:
                log.error("the bot stopped", exc_info=error)
                code = 1
        else:
            log.info("stopping")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        stop_task.cancel()
        await bot.close()
        if not bot_task.done():
            bot_task.cancel()
        await asyncio.gather(bot_task, return_exceptions=True)
        await local.astop()
    return code
