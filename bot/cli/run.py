"""`couplet run`: start the bot (and the bundled local model when no backend is set)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from bot.cli.startup import EXIT_BAD_SETTING, load_settings
from bot.settings import Settings

log = logging.getLogger(__name__)

NO_TOKEN = (
    "DISCORD_TOKEN is not set: create an application at "
    "https://discord.com/developers/applications, copy its bot token (Bot → Reset Token) "
    "and put DISCORD_TOKEN=… in .env or the environment.",
    "To try Couplet offline first, run `couplet sandbox` (or `make sandbox`): a local Discord, "
    "the bot and the bundled model in your terminal.",
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the Discord bot",
        description="Run the Discord bot. Settings come from the environment and .env.",
    )
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings is None:
        return EXIT_BAD_SETTING
    logging.getLogger().setLevel(settings.log_level.upper())
    token = settings.discord_token.get_secret_value().strip() if settings.discord_token else ""
    if not token:
        for line in NO_TOKEN:
            print(line, file=sys.stderr)
        return 1
    return asyncio.run(run(settings, token))


async def run(settings: Settings, token: str) -> int:
    """Run until the bot stops or SIGINT/SIGTERM arrives; then close everything."""
    # Imported here so `couplet run` without a token answers instantly.
    import discord

    from bot.app import CoupletBot

    local = None
    if not settings.completions_base_url:
        from bot.local_model import LocalModelError, LocalModelServer

        print(
            "COMPLETIONS_BASE_URL is not set: starting the bundled local model "
            "(Gemma 3 270M via llama-cpp-python) on loopback…",
            flush=True,
        )
        local = LocalModelServer()
        try:
            base_url = await local.astart()
        except LocalModelError as err:
            print(f"The local model could not start: {err}", file=sys.stderr)
            return 1
        print(f"Local model ready at {base_url}.", flush=True)
        update: dict[str, Any] = {"completions_base_url": base_url}
        if settings.completions_backend == "auto":
            update["completions_backend"] = "llama-cpp-python"
        settings = settings.model_copy(update=update)

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
        if local is not None:
            await local.astop()
            print("Local model stopped.", flush=True)
    return code
