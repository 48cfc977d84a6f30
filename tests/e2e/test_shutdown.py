"""A clean stop lets interactions being answered finish, and ends the rest quietly."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest

import bot.app
from bot.sandbox import FakeDiscord
from bot.stories.service import SweepReport
from cogs.stories._views import COG_NAME
from tests.e2e.conftest import GatedBackend, StubBackend, couplet_on
from tests.support.discord_env import wait_until

if TYPE_CHECKING:
    from cogs.stories._cog import Stories

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


async def test_a_story_sweep_under_way_finishes_before_the_bot_closes(
    fake: FakeDiscord, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """close() lets the sweeper's pass run to its end (a round it closed is announced
    too) instead of cancelling it mid-way, then stops the loop."""
    async with couplet_on(fake, StubBackend(), db_path) as run:
        # Each bot loads the cogs' modules afresh: its class is not this file's `Stories`.
        cog = cast("Stories", run.bot.get_cog(COG_NAME))
        assert cog is not None
        real_sweep = cog.service.sweep
        entered, release = asyncio.Event(), asyncio.Event()
        ends: list[str] = []

        async def held_sweep() -> SweepReport:
            entered.set()
            try:
                await release.wait()
            except asyncio.CancelledError:
                ends.append("cancelled")
                raise
            report = await real_sweep()
            ends.append("finished")
            return report

        monkeypatch.setattr(cog.service, "sweep", held_sweep)
        await asyncio.wait_for(entered.wait(), TIMEOUT)  # the next pass, within seconds
        closing = asyncio.create_task(run.bot.close())
        await asyncio.sleep(0.1)
        assert not closing.done()  # waiting for the pass
        release.set()
        await asyncio.wait_for(closing, TIMEOUT)
        assert ends == ["finished"]
        assert not cog.sweeper.is_running()
