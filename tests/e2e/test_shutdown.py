"""A clean stop lets interactions being answered finish, and ends the rest quietly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import bot.app
from bot.sandbox import FakeDiscord
from tests.e2e.conftest import GatedBackend, couplet_on
from tests.support.discord_env import wait_until

TIMEOUT = 60.0


async def test_a_generation_under_way_is_answered_before_the_bot_closes(
    fake: FakeDiscord, db_path: Path
) -> None:
    """close() waits for the running /complete: its answer reaches the channel."""
    backend = GatedBackend()
    async with couplet_on(fake, backend, db_path) as run:
        rec = await fake.slash("complete", prompt="slow", max_tokens=4)
        await wait_until(lambda: backend.arrived == ["slow"], "the request at the backend")
        closing = asyncio.create_task(run.bot.close())
        await asyncio.sleep(0)  # close() has started and is waiting for the interaction
        assert not closing.done()
        backend.release()
        message = await rec.wait_final(TIMEOUT)
        await asyncio.wait_for(closing, TIMEOUT)
        assert "gated reply" in message["content"]


async def test_one_past_the_grace_period_is_cancelled_without_an_error(
    fake: FakeDiscord, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A generation that outlasts the grace is cancelled: close() returns, and nothing is
    logged as an unexpected error (the fixture fails the test if it is)."""
    monkeypatch.setattr(bot.app, "SHUTDOWN_GRACE", 0.2)
    backend = GatedBackend()
    async with couplet_on(fake, backend, db_path) as run:
        await fake.slash("complete", prompt="stuck", max_tokens=4)
        await wait_until(lambda: backend.arrived == ["stuck"], "the request at the backend")
        await asyncio.wait_for(run.bot.close(), TIMEOUT)
        assert bot.app.interaction_tasks() == []
        backend.release()  # let the stub's handler end
