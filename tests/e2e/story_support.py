"""Helpers for the /story end-to-end tests: a scripted backend whose candidates differ
(and carry logprobs), the real bot on the emulator's clock, and finding a story's
messages in its thread."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.app import CoupletBot
from bot.sandbox import FakeDiscord
from bot.sandbox import permissions as perm
from bot.sandbox.world import Channel
from bot.settings import Settings
from tests.e2e.conftest import StubBackend, make_settings, running_stub
from tests.support.discord_env import BotRun, running_bot, wait_until


@dataclass
class Scripted:
    """Answers each completion request with the next text of a script (one request per
    candidate: the bundled model's profile emulates `n`), with a mean logprob per text."""

    texts: Callable[[int], str] = field(default=lambda i: f" candidate {i}.")
    logprob: Callable[[int], float] = field(default=lambda i: -1.0 - i / 10)
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def __call__(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        i = next(self.counter)
        text = self.texts(i)
        logprobs = None
        if body.get("logprobs") is not None:
            logprobs = {
                "tokens": [text],
                "token_logprobs": [self.logprob(i)],
                "top_logprobs": [{text: self.logprob(i)}],
                "text_offset": [0],
            }
        choice = {"index": 0, "text": text, "logprobs": logprobs, "finish_reason": "length"}
        data = {
            "id": f"cmpl-{i}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": "stub-model",
            "choices": [choice],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        }
        return 200, data, {}


@contextlib.asynccontextmanager
async def story_bot(fake: FakeDiscord, settings: Settings) -> AsyncIterator[BotRun]:
    """The real bot, keeping stories' deadlines by the emulator's clock, its sweeper quick."""
    bot = CoupletBot(settings, guild_ready_timeout=0.1, clock=fake.clock.time)
    async with running_bot(fake, bot) as run:
        bot.get_cog("Stories").sweeper.change_interval(seconds=0.2)  # type: ignore[union-attr]
        yield run


@contextlib.asynccontextmanager
async def scripted_backend(script: Scripted) -> AsyncIterator[StubBackend]:
    async with running_stub(StubBackend(answer=script)) as backend:
        yield backend


def settings_for(fake: FakeDiscord, db_path: Path, base_url: str, **more: Any) -> Settings:
    return make_settings(fake, db_path, base_url, completions_backend="llama-cpp-python", **more)


def add_members(fake: FakeDiscord) -> dict[str, Any]:
    """Five voters and a moderator (Manage Messages) on the default server."""
    guild = fake.guild
    people = {name: guild.add_member(name) for name in ("bob", "carol", "dave", "erin")}
    people["alice"] = guild.member("alice")
    people["mod"] = guild.add_member("mod", permissions=perm.MANAGE_MESSAGES)
    return people


def story_thread(fake: FakeDiscord, title: str) -> Channel:
    return next(t for t in fake.guild.threads if t.name == title)


def buttons(message: dict[str, Any]) -> list[str]:
    return [
        c.get("label", "")
        for row in message.get("components") or []
        for c in row.get("components") or []
    ]


def round_messages(thread: Channel) -> list[dict[str, Any]]:
    """The thread's round messages, oldest first (current versions)."""
    return [m for m in thread.messages if str(m.get("content", "")).startswith("**Round ")]


async def wait_for_round(thread: Channel, number: int, timeout: float = 60.0) -> dict[str, Any]:  # noqa: ASYNC109
    await wait_until(
        lambda: any(m["content"].startswith(f"**Round {number}**") for m in thread.messages),
        f"round {number}'s message",
        timeout,
    )
    return next(m for m in thread.messages if m["content"].startswith(f"**Round {number}**"))


def current(fake: FakeDiscord, message: dict[str, Any]) -> dict[str, Any]:
    return fake.state.message(message)
