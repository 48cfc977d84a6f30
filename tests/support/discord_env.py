"""Reusable helpers: start the Discord emulator and run a real discord.py bot against it.

    async with running_fake() as fake, running_bot(fake, MyBot(...)) as run:
        rec = await fake.slash("echo", text="hi")
        msg = await rec.wait_final()

`running_bot` fails the test if the bot task dies, if anything logs an ERROR
(app-command errors, view errors, event errors) that the test did not take
with `run.take_errors()`, or if the emulator refused a body the bot sent (400:
Discord's limits or its OpenAPI schema) that the test did not take with
`run.take_rejections()` — a refusal the bot swallows must still fail the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.discord_endpoints import patch_discord_endpoints
from bot.sandbox import FakeDiscord
from bot.sandbox.session import wait_while_running

BOT_TOKEN = "emulator-token"
# Loggers whose ERROR records mean a bug in the bot (or a refused request).
WATCHED_LOGGERS = ("discord", "bot", "cogs")


class ErrorCollector(logging.Handler):
    """Keeps every ERROR-or-worse record from the watched loggers."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class BotRun:
    """A bot running against the emulator, with the errors it logged."""

    fake: FakeDiscord
    bot: Any
    task: asyncio.Task[None]
    collector: ErrorCollector = field(repr=False)
    # Refusals before this index in fake.rejections are not this run's concern.
    rejections_seen: int = 0

    @property
    def errors(self) -> list[logging.LogRecord]:
        return list(self.collector.records)

    def take_errors(self) -> list[logging.LogRecord]:
        """Return and forget the errors logged so far (for tests that expect one)."""
        found = list(self.collector.records)
        self.collector.records.clear()
        return found

    async def expect_errors(self, count: int = 1, timeout: float = 10.0) -> list[logging.LogRecord]:  # noqa: ASYNC109
        """Wait until `count` errors were logged, then take them (for tests that expect them)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.collector.records) < count:
            if loop.time() > deadline:
                raise AssertionError(
                    f"expected {count} logged error(s), got {len(self.collector.records)}"
                )
            await asyncio.sleep(0.02)
        return self.take_errors()

    def take_rejections(self) -> list[dict[str, Any]]:
        """Return and accept the bodies the emulator refused so far (for tests that expect one)."""
        found = self.fake.rejections[self.rejections_seen :]
        self.rejections_seen = len(self.fake.rejections)
        return found

    def untaken_rejections(self) -> list[dict[str, Any]]:
        return self.fake.rejections[self.rejections_seen :]

    def check(self) -> None:
        """Raise if the bot task died."""
        if self.task.done() and not self.task.cancelled() and self.task.exception() is not None:
            raise AssertionError("the bot task died") from self.task.exception()


async def wait_until(predicate: Any, what: str, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Poll `predicate()` until it is true; fail naming `what` after `timeout` s.

    The deadline is generous on purpose: it only bounds a hang, so a loaded CI
    machine makes the test slower, not red.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def format_errors(records: Sequence[logging.LogRecord]) -> str:
    lines = []
    for record in records:
        text = f"{record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        lines.append(text)
    return "\n".join(lines)


def format_rejections(rejections: Sequence[dict[str, Any]]) -> str:
    lines = []
    for entry in rejections:
        errors = "; ".join(f"{e.path}: {e.message}" for e in entry.get("errors") or [])
        lines.append(f"{entry.get('route', '?')} {entry['code']}: {errors or '(no field errors)'}")
    return "\n".join(lines)


@contextlib.asynccontextmanager
async def running_fake(**kwargs: Any) -> AsyncIterator[FakeDiscord]:
    """A started FakeDiscord, stopped afterwards."""
    fake = FakeDiscord(**kwargs)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


async def _wait_or_die(awaitable: Any, task: asyncio.Task[None], timeout: float, what: str) -> None:  # noqa: ASYNC109
    if await wait_while_running(awaitable, task, timeout):
        return
    if task.done():
        exc = task.exception() if not task.cancelled() else None
        raise AssertionError(f"the bot stopped before {what}") from exc
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeDiscord,
    bot: Any,
    *,
    token: str = BOT_TOKEN,
    wait_sync: bool = True,
    timeout: float = 20.0,  # noqa: ASYNC109
    patch: bool = True,
) -> AsyncIterator[BotRun]:
    """Start `bot.start(token)` against `fake`; wait for ready (and command sync).

    Fails fast with the bot task's exception if it dies, fails at exit if any
    ERROR was logged and not taken, and always closes the bot.
    """
    import discord

    saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    if patch:
        patch_discord_endpoints(fake.api_base, fake.gateway_url)
    collector = ErrorCollector()
    loggers = [logging.getLogger(name) for name in WATCHED_LOGGERS]
    for logger in loggers:
        logger.addHandler(collector)
    task = asyncio.create_task(bot.start(token), name="bot under test")
    run = BotRun(fake, bot, task, collector, rejections_seen=len(fake.rejections))
    test_task = asyncio.current_task()
    died: list[BaseException] = []

    def on_bot_done(done: asyncio.Task[None]) -> None:
        # Fail fast: if the bot dies while the test waits on it, interrupt the test.
        if done.cancelled() or done.exception() is None or bot.is_closed():
            return
        died.append(done.exception())  # type: ignore[arg-type]
        if test_task is not None:
            test_task.cancel()

    task.add_done_callback(on_bot_done)
    failed = False
    try:
        await _wait_or_die(bot.wait_until_ready(), task, timeout, "the bot was ready")
        if wait_sync:
            await _wait_or_die(fake.commands_synced.wait(), task, timeout, "commands were synced")
        yield run
        run.check()
    except asyncio.CancelledError:
        failed = True
        if died and test_task is not None:
            test_task.uncancel()
            raise AssertionError("the bot task died during the test") from died[0]
        raise
    except BaseException:
        failed = True
        raise
    finally:
        task.remove_done_callback(on_bot_done)
        with contextlib.suppress(Exception):
            await bot.close()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, 10)
        for logger in loggers:
            logger.removeHandler(collector)
        # Leave discord.py pointing where it pointed before (the next test has its own port).
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved
        refused = run.untaken_rejections()
        if not failed and (collector.records or refused):
            problems = []
            if collector.records:
                problems.append(
                    "errors were logged while the bot ran:\n" + format_errors(collector.records)
                )
            if refused:
                problems.append(
                    "the emulator refused what the bot sent:\n" + format_rejections(refused)
                )
            raise AssertionError("\n".join(problems))


# ---------------------------------------------------------------- processes


@dataclass
class BotProcess:
    """A bot running as a separate process against the emulator."""

    process: subprocess.Popen[bytes]
    fake: FakeDiscord
    log_path: str

    def output(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()


def emulator_env(fake: FakeDiscord, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment that points a `couplet run` process at the emulator."""
    env = dict(os.environ)
    env.update(
        {
            "DISCORD_TOKEN": BOT_TOKEN,
            "DISCORD_API_BASE": fake.api_base,
            "DISCORD_GATEWAY_URL": fake.gateway_url,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


@contextlib.asynccontextmanager
async def running_process(
    fake: FakeDiscord,
    command: Sequence[str] | None = None,
    env: dict[str, str] | None = None,
    *,
    log_path: str,
    timeout: float = 60.0,  # noqa: ASYNC109
    wait_sync: bool = True,
) -> AsyncIterator[BotProcess]:
    """Run `command` (default `python -m bot`, i.e. `couplet run`) until the bot has synced.

    Output goes to `log_path`; the process is terminated (SIGTERM, then SIGKILL)
    at exit; a traceback in its output, or a body the emulator refused, fails the test.
    """
    cmd = list(command or [sys.executable, "-m", "bot"])
    full_env = emulator_env(fake, env)
    with open(log_path, "wb") as log_file:  # noqa: ASYNC230
        process = subprocess.Popen(cmd, env=full_env, stdout=log_file, stderr=subprocess.STDOUT)  # noqa: ASYNC220
    handle = BotProcess(process, fake, log_path)
    refused_before = len(fake.rejections)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        target = fake.commands_synced if wait_sync else fake.connected
        while not target.is_set():
            if process.poll() is not None:
                raise AssertionError(
                    f"{cmd} exited with {process.returncode}:\n{handle.output()[-4000:]}"
                )
            if loop.time() > deadline:
                raise AssertionError(
                    f"{cmd} did not {'sync' if wait_sync else 'connect'} in {timeout} s:\n"
                    + handle.output()[-4000:]
                )
            await asyncio.sleep(0.1)
        await asyncio.wait_for(fake.connected.wait(), max(1.0, deadline - loop.time()))
        yield handle
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, 10)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)
    if "Traceback (most recent call last)" in handle.output():
        raise AssertionError(f"{cmd} logged a traceback:\n{handle.output()[-4000:]}")
    refused = fake.rejections[refused_before:]
    if refused:
        raise AssertionError(f"the emulator refused what {cmd} sent:\n{format_rejections(refused)}")
