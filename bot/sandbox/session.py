"""`couplet sandbox` in one process: the emulator, the local model, the real bot, a terminal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TextIO

from pydantic import SecretStr

from bot.local_model import LocalModelFallback
from bot.sandbox.emulator import FakeDiscord
from bot.sandbox.rendering import Fragments
from bot.sandbox.terminal import Terminal
from bot.settings import Settings

log = logging.getLogger(__name__)

SANDBOX_TOKEN = "sandbox-token"


async def stdin_lines(
    stream: TextIO, prompt: Callable[[], None] | None = None
) -> AsyncIterator[str]:
    """Lines from a (blocking) text stream, read in a daemon thread so the bot keeps running.

    A daemon thread rather than the default executor: on Ctrl-C the process must
    not wait for a readline() that only returns when Enter is pressed.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    wanted = threading.Semaphore(0)

    def reader() -> None:
        while True:
            wanted.acquire()
            try:
                line: str | None = stream.readline() or None
            except (OSError, ValueError):
                line = None
            loop.call_soon_threadsafe(queue.put_nowait, line)
            if line is None:
                return

    threading.Thread(target=reader, name="sandbox-stdin", daemon=True).start()
    while True:
        if prompt is not None:
            prompt()
        wanted.release()
        line = await queue.get()
        if line is None:
            return
        yield line.rstrip("\n")


def _styled_printer(stdout: TextIO) -> Callable[[Fragments], None] | None:
    """Colour and Discord's layout for a person reading a terminal; None for a pipe or file."""
    if not stdout.isatty():
        return None
    from bot.sandbox.console import styled_printer

    return styled_printer(stdout)


async def _cancel_unfinished_commands() -> None:
    """Leaving cuts what the bot is still doing (a reply Ctrl-C stopped waiting for): the
    person asked to leave, so nothing gets the bot's usual grace period."""
    from bot.app import finish_interactions  # late, like the bot itself (see run_session)

    await finish_interactions(grace=0)


async def wait_while_running(awaitable: Any, task: asyncio.Task[Any], timeout: float) -> bool:  # noqa: ASYNC109
    """Wait for `awaitable` while `task` (the bot) runs: True once it is done;
    False, with `awaitable` cancelled, when `task` ends first or `timeout` passes."""
    waiter = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait(
        {waiter, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
    )
    if waiter in done:
        return True
    waiter.cancel()
    return False


async def _wait(task: asyncio.Task[Any], awaitable: Any, timeout: float, what: str) -> None:  # noqa: ASYNC109
    if await wait_while_running(awaitable, task, timeout):
        return
    if task.done() and task.exception() is not None:
        raise RuntimeError(
            f"the bot stopped before {what}: {task.exception()}"
        ) from task.exception()
    raise RuntimeError(f"timed out waiting for {what}")


async def run_sandbox(
    settings: Settings,
    *,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    member: str | None = None,
    channel: str | None = None,
    database_url: str | None = None,
    reply_timeout: float = 180.0,
    locale: str | None = None,
) -> int:
    """Start everything, run the terminal until quit or end of input, stop everything.

    At a terminal (stdin and stdout both ttys) lines are read with prompt_toolkit
    (console.py); output to a terminal is in colour; anything piped is plain text.
    """
    from bot.app import CoupletBot  # the bot is imported late: it pulls in discord.py and the cogs

    def write(text: str) -> None:
        print(text, file=stdout, flush=True)

    local = LocalModelFallback(settings, write)
    with tempfile.TemporaryDirectory(prefix="couplet-sandbox-") as tmp:
        update: dict[str, Any] = {
            "discord_token": SecretStr(SANDBOX_TOKEN),
            # A fresh emulator knows no commands: always sync.
            "discord_sync": "global",
            "database_url": database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'sandbox.db'}",
            "shard_count": None,
            "shard_ids": None,
        }
        fake = FakeDiscord()
        # First, so an unknown --as or --channel is said (LookupError) before anything starts.
        terminal = Terminal(
            fake,
            write,
            member=member,
            channel=channel,
            reply_timeout=reply_timeout,
            show=_styled_printer(stdout),
            locale=locale,
        )
        await fake.start()
        update["discord_api_base"] = fake.api_base
        update["discord_gateway_url"] = fake.gateway_url
        bot = None
        task: asyncio.Task[None] | None = None
        try:
            sandbox_settings = (await local.astart()).model_copy(update=update)
            bot = CoupletBot(sandbox_settings, guild_ready_timeout=0.1)
            task = asyncio.create_task(bot.start(SANDBOX_TOKEN), name="couplet-sandbox-bot")
            await _wait(task, bot.wait_until_ready(), 120, "the bot was ready")
            await _wait(task, fake.commands_synced.wait(), 60, "commands were synced")
            write(terminal.banner())
            if stdin.isatty() and stdout.isatty():
                from bot.sandbox.console import Console

                code = await Console(terminal, stdin=stdin, stdout=stdout).run()
            else:
                prompt = (
                    (lambda: print("> ", end="", file=stdout, flush=True))
                    if stdin.isatty()
                    else None
                )
                code = await terminal.run(stdin_lines(stdin, prompt))
            if fake.unknown_routes:
                write(f"(the bot called routes the emulator does not know: {fake.unknown_routes})")
            return code
        finally:
            await _cancel_unfinished_commands()
            if bot is not None:
                with contextlib.suppress(Exception):
                    await bot.close()
            if task is not None:
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(task, 10)
            await fake.stop()
            await local.astop()
