"""/story with two `couplet run` processes (shard 0 and shard 1) on one local Discord, one
real PostgreSQL and one real Redis: one process sweeps round deadlines for every server
(the `story-sweep` lease), a round's deadline closes it exactly once, and a round due
while the process running its server is dead (kill -9) still closes, through the other.

Rounds are made due by moving their stored deadline into the past: the processes keep
real time, and the sweeper reads deadlines from the database only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import update

from bot.sandbox.world import Channel, Guild
from bot.storage.stories import StoryRecord, StoryRoundRow, StoryStore
from tests.e2e.story_support import buttons
from tests.scale.processes import (
    STUB_TEXT,
    WAIT,
    Process,
    TwoProcesses,
    eventually,
    two_processes,
)
from tests.support.discord_env import wait_until
from tests.support.postgres import PostgresCluster
from tests.support.redis import RedisServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

LEASE = "story-sweep"
OPENING = "The tide came in"


class World(TwoProcesses):
    @property
    def store(self) -> StoryStore:
        return StoryStore(self.db)


async def holds_lease(process: Process) -> bool:
    return await process.metric("couplet_lease_held", task=LEASE) == 1


async def sweeps(process: Process) -> float:
    return await process.metric("couplet_background_runs_total", task=LEASE)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    postgres_cluster: PostgresCluster,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[World]:
    """p1 runs shard 0 and, started first, holds the sweep lease; p2 runs shard 1."""

    async def lease_taken(p1: Process) -> None:
        await eventually(lambda: holds_lease(p1), "p1 to hold the sweep lease")

    logs = tmp_path_factory.mktemp("story-processes")
    async with two_processes(
        World, postgres_cluster, redis_server, logs, after_p1=lease_taken
    ) as started:
        yield started


async def start_story(
    world: World, guild: Guild, title: str, opening: str = OPENING
) -> tuple[Channel, StoryRecord]:
    """alice starts a two-candidate story in #general (window 10 minutes: only the test
    makes a round due)."""
    rec = await world.fake.slash(
        "story start", {"title": title, "prompt": opening, "candidates": 2, "window": 10},
        guild=guild, channel="general", member="alice",
    )  # fmt: skip
    await wait_until(lambda: "Story #" in str((rec.original or {}).get("content")), title, WAIT)
    thread = next(t for t in guild.threads if t.name == title)
    story = await world.store.story_in_thread(guild.id, thread.id)
    assert story is not None
    return thread, story


async def open_round(world: World, guild: Guild, thread: Channel, number: int) -> dict[str, Any]:
    """bob clicks the newest Next round; returns round `number`'s message."""
    newest = [m for m in thread.messages if "Next round" in buttons(m)][-1]
    rec = await world.fake.click(newest, "Next round", member="bob")
    answer = (await rec.wait_final(WAIT)).get("content")
    header = f"**Round {number}**"
    await wait_until(
        lambda: any(m["content"].startswith(header) for m in thread.messages),
        f"{header} (the click was answered: {answer!r})",
        WAIT,
    )
    return next(m for m in thread.messages if m["content"].startswith(header))


async def round_with_a_vote(
    world: World, guild: Guild, title: str
) -> tuple[Channel, StoryRecord, dict[str, Any]]:
    """A new story whose first round is open, with bob's vote for candidate 2."""
    thread, story = await start_story(world, guild, title)
    message = await open_round(world, guild, thread, 1)
    vote = await world.fake.click(message, "2", member="bob")
    await vote.wait_final(WAIT)
    return thread, story, message


async def make_due(world: World, story_id: int) -> int:
    """Move the story's open round's deadline a second into the past; its id."""
    story = await world.store.story(story_id)
    assert story is not None and story.current_round_id is not None
    async with world.db.engine.begin() as conn:
        await conn.execute(
            update(StoryRoundRow)
            .where(StoryRoundRow.id == story.current_round_id)
            .values(deadline=datetime.now(UTC) - timedelta(seconds=1))
        )
    return story.current_round_id


def chosen_posts(thread: Channel, title: str, number: int) -> list[dict[str, Any]]:
    head = f"📖 *{title}*, after round {number}:"
    return [m for m in thread.messages if m["content"].startswith(head)]


async def closed_once(world: World, thread: Channel, title: str, round_id: int) -> None:
    """The round is closed with bob's choice (candidate 2) as its one chosen node, the
    story goes on from it, and the thread has one post of it."""
    round_ = await world.store.round(round_id)
    assert round_ is not None
    assert (round_.status, round_.close_reason) == ("closed", "window")
    nodes = [n for n in await world.store.nodes(round_.story_id) if n.round_id == round_id]
    chosen = [n for n in nodes if n.status == "chosen"]
    assert [n.id for n in chosen] == [round_.winner_node_id]
    assert chosen[0].position == 2 and chosen[0].votes == 1
    story = await world.store.story(round_.story_id)
    assert story is not None and story.head_node_id == round_.winner_node_id
    assert len(chosen_posts(thread, title, 1)) == 1


async def test_a_rounds_deadline_closes_it_once_across_processes(world: World) -> None:
    """A story on shard 1's server (p2 answers its clicks) whose round comes due is
    closed by p1, the one process sweeping: one winner, one post; p2 never swept; more
    sweeps after it change nothing."""
    guild = world.guilds[1]
    title = "The harbour"
    thread, story, message = await round_with_a_vote(world, guild, title)
    round_id = await make_due(world, story.id)
    await wait_until(lambda: chosen_posts(thread, title, 1), "the round to close", WAIT)
    await closed_once(world, thread, title, round_id)
    assert "was chosen" in world.fake.state.message(message)["content"]
    assert await holds_lease(world.p1) and not await holds_lease(world.p2)
    assert await sweeps(world.p2) == 0
    passes = await sweeps(world.p1)

    async def swept_twice_more() -> bool:
        return await sweeps(world.p1) >= passes + 2

    await eventually(swept_twice_more, "two more sweeps")
    await closed_once(world, thread, title, round_id)


async def test_a_round_due_while_its_process_is_dead_closes_through_the_other(
    world: World,
) -> None:
    """A round on shard 0's server; p1 (its shard, and the sweeper) is killed with -9
    and the round comes due meanwhile: p2 takes the lease once it lapses and closes the
    round once. p1 started again answers the story's next round."""
    guild = world.guilds[0]
    title = "The lighthouse"
    thread, story, message = await round_with_a_vote(world, guild, title)
    await world.cluster.kill(world.p1)
    round_id = await make_due(world, story.id)
    await wait_until(lambda: chosen_posts(thread, title, 1), "the round to close", WAIT)
    await closed_once(world, thread, title, round_id)
    assert "was chosen" in world.fake.state.message(message)["content"]
    assert await holds_lease(world.p2) and await sweeps(world.p2) >= 1

    world.p1 = await world.cluster.start([0], name="p1-again")
    await open_round(world, guild, thread, 2)
    await closed_once(world, thread, title, round_id)
    assert not await holds_lease(world.p1)


async def test_a_round_generating_when_its_process_is_killed_finishes_once(
    world: World,
) -> None:
    """bob's Next round on shard 0's server (p1) waits for the backend when p1 is killed
    with -9 and started again: a live process runs the click again, which continues the
    same round (no second round), posts it once with its two candidates, and answers
    the click."""
    guild = world.guilds[0]
    title = "The storm"
    opening = "The storm broke over the bay"
    stub = world.stub
    thread, story = await start_story(world, guild, title, opening)
    gate = stub.hold(opening)
    newest = [m for m in thread.messages if "Next round" in buttons(m)][-1]
    rec = await world.fake.click(newest, "Next round", member="bob")
    await wait_until(lambda: len(stub.with_prompt(opening)) == 1, "the round's request", WAIT)
    generating = await world.store.story(story.id)
    assert generating is not None and generating.current_round_id is not None
    round_id = generating.current_round_id
    assert (await world.store.round(round_id)).status == "generating"  # type: ignore[union-attr]
    await world.cluster.kill(world.p1)
    world.p1 = await world.cluster.start([0], name="p1-third")
    await wait_until(lambda: len(stub.with_prompt(opening)) == 2, "it to be sent again", WAIT)
    gate.set()

    final = await rec.wait_final(WAIT)
    assert final["content"] == "Round 1 is open: vote below."
    assert len(rec.callbacks) == 1  # acknowledged once, by the process that died
    header = "**Round 1**"
    await wait_until(
        lambda: any(m["content"].startswith(header) for m in thread.messages),
        "the round's message",
        WAIT,
    )
    posted = [m for m in thread.messages if m["content"].startswith(header)]
    assert len(posted) == 1
    assert buttons(posted[0])[:2] == ["1", "2"]
    round_ = await world.store.round(round_id)
    assert round_ is not None
    assert (round_.number, round_.status, round_.message_id) == (1, "open", int(posted[0]["id"]))
    assert (await world.store.round_counts([story.id])) == {story.id: 1}
    candidates = [n for n in await world.store.nodes(story.id) if n.round_id == round_id]
    assert [n.text.strip() for n in candidates] == [
        f"{STUB_TEXT} ({opening})".strip(),
        f"{STUB_TEXT} ({opening}) #1".strip(),
    ]

    async def resumed_once() -> bool:
        counts = [
            await p.metric("couplet_interactions_resumed_total") for p in (world.p1, world.p2)
        ]
        return sum(counts) == 1

    await eventually(resumed_once, "one process to report the resumed round")
    # More recovery passes change nothing: still one round, one message.
    assert len([m for m in thread.messages if m["content"].startswith(header)]) == 1
