"""Story storage on SQLite and PostgreSQL: its migration up and down, the tree, and every
decision many people race for taken exactly once (round start, votes against a close,
the close itself, a moderator's decision), also from two engines (as two processes)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import inspect

from bot.storage import Database
from bot.storage.stories import (
    CANDIDATE,
    CHOSEN,
    DISCARDED,
    MEMBER,
    MODEL,
    NewNode,
    NewStory,
    NodeRecord,
    StoryFull,
    StoryStore,
)
from bot.stories import Member, Proposal, Proposals, StoryError, StoryService

TABLES = {"stories", "story_nodes", "story_rounds", "story_votes"}
GUILD = 4242
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def most_votes(nodes: Sequence[NodeRecord]) -> int | None:
    """The candidate with the most votes; None on a tie (for these tests)."""
    best = max(n.votes for n in nodes)
    top = [n for n in nodes if n.votes == best]
    return top[0].id if len(top) == 1 else None


def new_story(thread: int = 900, **changes: object) -> NewStory:
    values: dict[str, object] = {
        "guild_id": GUILD,
        "channel_id": 800,
        "thread_id": thread,
        "title": "The lighthouse",
        "mode": "vote",
        "candidates": 3,
        "window_minutes": 10,
        "quorum": None,
        "preset": None,
        "created_by": 1,
        "opening": "The keeper climbed the stairs.",
    }
    values.update(changes)
    return NewStory(**values)  # type: ignore[arg-type]


async def table_names(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def open_round(store: StoryStore, story_id: int, texts: Sequence[str]) -> list[int]:
    started = await store.begin_round(story_id, 1, None, NOW)
    assert started is not None
    state = await store.open_round(
        started.id, [NewNode(t, MODEL) for t in texts], NOW + timedelta(minutes=10), NOW
    )
    assert state is not None
    return [started.id, *(n.id for n in state.nodes)]


async def test_migration_up_down_up(db_url: str) -> None:
    """Revision 0007 creates the four story tables, drops them going down to 0006, and
    creates them again."""
    db = Database(db_url)
    try:
        await db.upgrade("0006")
        assert not TABLES & await table_names(db)
        await db.upgrade("0007")
        assert TABLES <= await table_names(db)
        await db.downgrade("0006")
        assert await db.current() == "0006"
        assert not TABLES & await table_names(db)
        await db.upgrade("0007")
        assert TABLES <= await table_names(db)
    finally:
        await db.dispose()


async def test_a_thread_holds_one_live_story(db: Database) -> None:
    """The opening is the chosen root; a second story in the same thread is refused until
    the first ends; other servers never see it."""
    store = StoryStore(db)
    story = await store.create(new_story(), NOW)
    assert story is not None and story.root_node_id == story.head_node_id
    (root,) = await store.nodes(story.id)
    assert (root.text, root.status, root.parent_id) == (story_title_opening(), CHOSEN, None)
    assert await store.create(new_story(), NOW) is None
    assert (await store.end(story.id, NOW))[0]
    again = await store.create(new_story(), NOW)
    assert again is not None
    assert (await store.story_in_thread(GUILD, 900)) == again
    assert await store.stories(GUILD + 1) == []
    assert [s.id for s in await store.stories(GUILD)] == [again.id, story.id]


def story_title_opening() -> str:
    return "The keeper climbed the stairs."


async def test_one_round_at_a_time_even_when_started_together(db: Database) -> None:
    """Ten round starts at once: one wins; the next starts only once that round ended."""
    store = StoryStore(db)
    story = await store.create(new_story(), NOW)
    assert story is not None
    started = await asyncio.gather(*(store.begin_round(story.id, u, None, NOW) for u in range(10)))
    winners = [r for r in started if r is not None]
    assert len(winners) == 1 and winners[0].number == 1
    assert await store.abandon_round(winners[0].id, NOW)
    assert (await store.story(story.id)).current_round_id is None
    after = await store.begin_round(story.id, 5, "storm", NOW)
    assert after is not None and after.number == 2 and after.direction == "storm"


async def test_votes_count_once_per_member_and_can_change(db: Database) -> None:
    """Double clicks count once, a changed vote moves, counts stay exact under a burst."""
    store = StoryStore(db)
    story = await store.create(new_story(), NOW)
    assert story is not None
    round_id, a, b, _c = await open_round(store, story.id, ["one", "two", "three"])
    burst = [store.vote(round_id, user, a, NOW) for user in range(20) for _ in range(3)]
    changes = await asyncio.gather(*burst)
    assert sum(1 for c in changes if c is not None and c.changed) == 20
    moved = await store.vote(round_id, 3, b, NOW)
    assert moved is not None and moved.before == a and moved.voters == 20
    same = await store.vote(round_id, 3, b, NOW)
    assert same is not None and not same.changed
    state = await store.round_state(round_id)
    assert [n.votes for n in state.nodes] == [19, 1, 0]
    assert await store.vote(round_id, 1, 10**9, NOW) is None  # not a candidate of it


async def test_a_round_closes_once_and_late_votes_are_refused(db: Database) -> None:
    """Closes racing with each other and with votes: one close wins, every vote either
    counted before it or was refused, and the tally matches the winner."""
    store = StoryStore(db)
    story = await store.create(new_story(), NOW)
    assert story is not None
    round_id, a, b, _c = await open_round(store, story.id, ["one", "two", "three"])
    await store.vote(round_id, 100, b, NOW)

    async def close(by: int) -> object:
        return await store.close(
            round_id, reason="close", by=by, now=NOW, choose=most_votes, needs_approval=False
        )

    racing = [close(by) for by in range(5)] + [store.vote(round_id, u, a, NOW) for u in range(6)]
    results = await asyncio.gather(*racing)
    closes, votes = results[:5], results[5:]
    assert sum(1 for r in closes if r is not None) == 1
    counted = sum(1 for v in votes if v is not None)
    nodes = {n.id: n for n in await store.nodes(story.id)}
    assert nodes[a].votes == counted
    winner = a if counted > 1 else (b if counted == 0 else None)
    state = next(r for r in closes if r is not None)
    if winner is None:
        assert state.round.status == "tied"
    else:
        assert state.round.winner_node_id == winner and nodes[winner].status == CHOSEN
        assert (await store.story(story.id)).head_node_id == winner
        assert {n.status for i, n in nodes.items() if i not in (winner, story.root_node_id)} == {
            DISCARDED
        }
    assert await store.vote(round_id, 999, a, NOW) is None


async def test_two_engines_close_a_round_once(db: Database) -> None:
    """Two engines on one database (as two bot processes) close the same round: once."""
    other = Database(db.url)
    try:
        store, rival = StoryStore(db), StoryStore(other)
        story = await store.create(new_story(), NOW)
        assert story is not None
        round_id, a, *_ = await open_round(store, story.id, ["one", "two"])
        await store.vote(round_id, 1, a, NOW)
        results = await asyncio.gather(
            *(
                s.close(round_id, reason="window", by=None, now=NOW, choose=most_votes,
                        needs_approval=False)
                for s in (store, rival, store, rival)
            )
        )  # fmt: skip
        assert sum(1 for r in results if r is not None) == 1
        assert (await rival.round(round_id)).winner_node_id == a
    finally:
        await other.dispose()


async def test_approval_reject_moves_to_the_next_best_then_rerolls(db: Database) -> None:
    """A pending winner is decided once; rejecting proposes the next best; rejecting the
    last leaves the round rerolled and the story free; an edit is a new chosen node."""
    store = StoryStore(db)
    story = await store.create(new_story(mode="vote+approve"), NOW)
    assert story is not None
    round_id, a, b = await open_round(store, story.id, ["one", "two"])
    await store.vote(round_id, 1, a, NOW)
    state = await store.close(
        round_id, reason="quorum", by=None, now=NOW, choose=most_votes, needs_approval=True
    )
    assert state is not None and state.round.status == "pending"
    assert state.round.proposed_node_id == a
    rejects = await asyncio.gather(
        *(
            store.decide(round_id, a, action="reject", by=7, now=NOW, choose=most_votes)
            for _ in range(4)
        )
    )
    assert sum(1 for r in rejects if r is not None) == 1
    after = next(r for r in rejects if r is not None)
    assert after.round.proposed_node_id == b and after.round.status == "pending"
    last = await store.decide(round_id, b, action="reject", by=7, now=NOW, choose=most_votes)
    assert last is not None and last.round.status == "rerolled"
    assert (await store.story(story.id)).current_round_id is None

    round_id, c, _d = await open_round(store, story.id, ["three", "four"])
    await store.vote(round_id, 1, c, NOW)
    await store.close(
        round_id, reason="window", by=None, now=NOW, choose=most_votes, needs_approval=True
    )
    edited = await store.decide(
        round_id, c, action="edit", by=7, now=NOW, choose=most_votes,
        edited=NewNode("three, better", "edit", author_id=7),
    )  # fmt: skip
    assert edited is not None and edited.round.status == "closed"
    new = next(n for n in edited.nodes if n.source == "edit")
    assert new.status == CHOSEN and new.parent_id == edited.round.parent_node_id
    assert (await store.story(story.id)).head_node_id == new.id
    assert (
        await store.decide(round_id, c, action="approve", by=7, now=NOW, choose=most_votes) is None
    )


async def test_written_candidates_are_limited(db: Database) -> None:
    """A member writes one candidate per round; a full round takes no more."""
    store = StoryStore(db)
    story = await store.create(new_story(), NOW)
    assert story is not None
    round_id, *_ = await open_round(store, story.id, ["one", "two"])
    mine = await store.add_written(round_id, NewNode("mine", MEMBER, 5), NOW, limit=4)
    assert mine is not None and mine.position == 3 and mine.status == CANDIDATE
    for reason, node, limit in (
        ("again", NewNode("more", MEMBER, 5), 9),
        ("limit", NewNode("x", MEMBER, 6), 3),
    ):
        try:
            await store.add_written(round_id, node, NOW, limit=limit)
        except StoryFull as full:
            assert full.reason == reason
        else:
            raise AssertionError(f"expected StoryFull({reason})")


async def test_undo_branch_end_and_pause(db: Database) -> None:
    """Undo discards the head, a branch continues from an earlier node, ending cancels a
    running round once, and only an idle story pauses."""
    store = StoryStore(db)
    story = await store.create(new_story(), NOW)
    assert story is not None
    round_id, a, b = await open_round(store, story.id, ["one", "two"])
    await store.vote(round_id, 1, a, NOW)
    await store.close(
        round_id, reason="close", by=2, now=NOW, choose=most_votes, needs_approval=False
    )
    assert not await store.move_head(story.id, story.root_node_id, b, NOW, undo=False)
    assert await store.move_head(story.id, a, b, NOW, undo=False)  # branch to the loser
    nodes = {n.id: n for n in await store.nodes(story.id)}
    assert nodes[b].status == CHOSEN and nodes[a].status == CHOSEN
    assert await store.move_head(story.id, b, story.root_node_id, NOW, undo=True)
    assert {n.id: n.status for n in await store.nodes(story.id)}[b] == DISCARDED
    later = NOW + timedelta(hours=2)
    assert await store.pause(story.id, NOW) is None  # active since NOW: not idle before it
    assert [s.id for s in await store.idle_stories(later)] == [story.id]
    paused = await store.pause(story.id, later)
    assert paused is not None and paused.status == "paused"
    running = await store.begin_round(story.id, 1, None, later)
    assert running is not None and (await store.story(story.id)).status == "active"
    ends = await asyncio.gather(store.end(story.id, later), store.end(story.id, later))
    assert sorted(e[0] for e in ends) == [False, True]
    cancelled = next(e[1] for e in ends if e[0])
    assert cancelled is not None and cancelled.id == running.id
    assert (await store.round(running.id)).status == "cancelled"
    assert await store.begin_round(story.id, 1, None, later) is None


class CountingProposer:
    """Writes "<prompt> #i" for each candidate and counts the rounds it was asked for."""

    def __init__(self) -> None:
        self.calls = 0

    async def propose(self, *, prompt: str, count: int, **_: Any) -> Proposals:
        self.calls += 1
        return Proposals([Proposal(f" {prompt} #{i}") for i in range(count)])


async def test_a_round_run_again_by_its_interaction_continues_it(db: Database) -> None:
    """The interaction that began a round finds it (and only it). Asked again by that
    interaction — run again after its process died — the service writes the candidates
    of its round still generating instead of beginning another, returns it as it stands
    once opened (the model not asked again), and says so when it was cancelled."""
    store = StoryStore(db)
    story = await store.create(new_story(), NOW)
    assert story is not None
    began = await store.begin_round(story.id, 1, None, NOW, interaction_id=77)
    assert began is not None and began.status == "generating"
    assert (await store.round_of_interaction(story.id, 77)).id == began.id  # type: ignore[union-attr]
    assert await store.round_of_interaction(story.id, 78) is None

    proposer = CountingProposer()
    service = StoryService(store, proposer, clock=NOW.timestamp)  # type: ignore[arg-type]
    member = Member(user_id=1, guild_id=GUILD, channel_id=900)
    view = await service.next_round(member, story, interaction_id=77)
    assert (view.state.round.id, view.state.round.status) == (began.id, "open")
    opening = "The keeper climbed the stairs."
    assert [n.text for n in view.state.nodes] == [f" {opening} #{i}" for i in range(3)]
    again = await service.next_round(member, story, interaction_id=77)
    assert (again.state.round.id, len(again.state.nodes)) == (began.id, 3)
    assert proposer.calls == 1
    assert await store.round_counts([story.id]) == {story.id: 1}
    with pytest.raises(StoryError, match="already running"):
        await service.next_round(member, story, interaction_id=78)

    other = await store.create(new_story(thread=901), NOW)
    assert other is not None
    lost = await store.begin_round(other.id, 1, None, NOW, interaction_id=79)
    assert lost is not None and await store.abandon_round(lost.id, NOW)
    with pytest.raises(StoryError, match="Round 1 was cancelled"):
        await service.next_round(member, other, interaction_id=79)
    assert proposer.calls == 1
