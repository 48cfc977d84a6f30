"""A reply's buttons always find their generation: clicked at once, and after a crash.

Generations are written in shared transactions (group commit); these tests
hold the guarantee that made that safe: a reply with buttons is shown only
once its generation is committed. Each /complete of a burst comes from a
member of its own (a member has one generation running at a time).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.sandbox import FakeDiscord
from bot.sandbox.interactions import InteractionRecord
from bot.sandbox.world import Member
from cogs.completions._cog import GONE
from tests.e2e.conftest import (
    StubBackend,
    body_and_footer,
    couplet_on_stub,
    labels,
    running_stub,
)
from tests.support.discord_env import running_process, wait_until

WAIT = 120.0
BURST = 30


def shows_second_candidate(message: dict) -> bool:
    return body_and_footer(message["content"])[1][0].startswith("candidate 2/2")


def members(fake: FakeDiscord, count: int) -> list[Member]:
    return [fake.guild.add_member(f"member{i}") for i in range(count)]


def reply_with_buttons(rec: InteractionRecord) -> dict[str, Any] | None:
    """The reply once it carries its buttons (before that it may say its place in the queue)."""
    message = rec.final_message()
    return message if message is not None and labels(message) else None


async def test_next_clicked_the_moment_each_reply_appears_finds_its_generation(
    fake: FakeDiscord, db_path: Path
) -> None:
    """Thirty /complete at once, each reply's Next clicked as soon as it shows: all page."""
    people = members(fake, BURST)
    async with couplet_on_stub(fake, db_path, text="at once") as bot:

        async def complete_then_click(i: int) -> dict:
            rec = await fake.slash(
                "complete", prompt=f"prompt {i}", max_tokens=4, n=2, member=people[i]
            )
            await rec.wait_for(lambda r: reply_with_buttons(r) is not None, WAIT)
            reply = reply_with_buttons(rec)
            assert reply is not None
            click = await fake.click(reply, "Next ▶")
            return await click.wait_final(WAIT)

        shown = await asyncio.gather(*(complete_then_click(i) for i in range(BURST)))
        assert all(message["content"] != str(GONE) for message in shown)
        assert all(shows_second_candidate(message) for message in shown)
        assert bot.run.bot.generations.writer.items == BURST


async def test_every_reply_shown_before_a_kill_9_keeps_working_buttons(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    """SIGKILL in the middle of a burst; after a restart every reply shown has working buttons."""
    people = members(fake, BURST)
    async with running_stub(StubBackend(text="durable")) as stub:
        env = {
            "COMPLETIONS_BASE_URL": stub.base_url,
            "COMPLETIONS_BACKEND": "vllm",
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}",
            "DISCORD_SYNC": "global",  # the restarted process syncs again: we wait for it
        }
        async with running_process(fake, env=env, log_path=str(tmp_path / "1.log")) as first:
            recs: list[InteractionRecord] = await asyncio.gather(
                *(
                    fake.slash("complete", prompt=f"burst {i}", max_tokens=4, n=2, member=people[i])
                    for i in range(BURST)
                )
            )
            # Kill as soon as a third of the replies show: the rest are still being made.
            await wait_until(
                lambda: sum(reply_with_buttons(r) is not None for r in recs) >= BURST // 3,
                "replies",
                WAIT,
            )
            first.process.kill()
            await asyncio.to_thread(first.process.wait)
        with_buttons = [m for m in map(reply_with_buttons, recs) if m is not None]
        assert len(with_buttons) >= BURST // 3

        fake.connected.clear()
        fake.commands_synced.clear()
        async with running_process(fake, env=env, log_path=str(tmp_path / "2.log")):
            clicks = [await fake.click(message, "Next ▶") for message in with_buttons]
            for click in clicks:
                message = await click.wait_final(WAIT)
                assert message["content"] != str(GONE)
                assert shows_second_candidate(message)
