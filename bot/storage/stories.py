"""What group stories keep: each story, its tree of nodes, its rounds and their votes.

A story is a tree: the opening text is the root, and every candidate of every
round is a node under the text it continues (model-written, member-written, or
a moderator's edit), with its parameters, seed, mean logprob, votes and
status (candidate, chosen, discarded). Nothing is deleted: rerolled, rejected,
undone and branched-away nodes stay. The story's `head_node_id` ends the path
that is its text.

Every decision many people can race for is one conditional UPDATE whose row
count says who won, in the same transaction as what follows from it:
- a round starts only if the story has none running
  (`UPDATE stories … WHERE current_round_id IS NULL`);
- a vote counts only while its round is open
  (`UPDATE story_rounds … WHERE status = 'open'`, which also orders votes and
  the close on the round's row);
- a round closes once (`… SET status = 'closed' WHERE status = 'open'`), a
  pending winner is decided once (`… WHERE status = 'pending' AND
  proposed_node_id = :node`), a tie is broken once (`… WHERE status = 'tied'`).
The rules (who wins, whether a moderator must approve) come from the caller:
this module only keeps the state and makes each change atomic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.database import Database
from bot.storage.locks import lock_guild
from bot.storage.models import NAME_LENGTH, Base, JSONValue, UTCDateTime, utcnow

TITLE_LENGTH = 100  # Discord's longest thread name

# A story's status.
ACTIVE, PAUSED, ENDED = "active", "paused", "ended"
# A round's status. `generating` until its candidates are in; `open` while members
# vote; `pending` while its winner waits for a moderator; `tied` while a moderator
# must break a tie; then `closed` (a winner), `rerolled` or `cancelled`.
GENERATING, OPEN, PENDING, TIED = "generating", "open", "pending", "tied"
CLOSED, REROLLED, CANCELLED = "closed", "rerolled", "cancelled"
RUNNING = (GENERATING, OPEN, PENDING, TIED)
DECIDING = (OPEN, PENDING, TIED)
# A node's status and where its text came from.
CANDIDATE, CHOSEN, DISCARDED = "candidate", "chosen", "discarded"
OPENING, MODEL, MEMBER, EDIT = "opening", "model", "member", "edit"


class StoryRow(Base):
    """One story: where it lives, how its rounds run, and where its text ends."""

    __tablename__ = "stories"
    __table_args__ = (
        Index("ix_stories_guild", "guild_id", "id"),
        Index("ix_stories_thread", "guild_id", "thread_id"),
        Index("ix_stories_activity", "status", "last_activity_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    channel_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    thread_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    title: Mapped[str] = mapped_column(String(TITLE_LENGTH), nullable=False)
    mode: Mapped[str] = mapped_column(String(16), nullable=False)
    candidates: Mapped[int] = mapped_column(Integer, nullable=False)
    window_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    quorum: Mapped[int | None] = mapped_column(Integer, nullable=True)
    preset: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=ACTIVE)
    root_node_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    head_node_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    current_round_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_by: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StoryNodeRow(Base):
    """One piece of text in a story's tree."""

    __tablename__ = "story_nodes"
    __table_args__ = (
        Index("ix_story_nodes_story", "story_id", "id"),
        Index("ix_story_nodes_round", "round_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    story_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False
    )
    parent_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    round_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Its number in its round (1-based; 0 for the opening and moderators' edits).
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    source: Mapped[str] = mapped_column(String(8), nullable=False)
    author_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The request's parameters as sent (model-written nodes).
    params: Mapped[dict[str, Any] | None] = mapped_column(JSONValue, nullable=True)
    seed: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    mean_logprob: Mapped[float | None] = mapped_column(Float, nullable=True)
    votes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class StoryRoundRow(Base):
    """One round: candidates proposed for the text after `parent_node_id`."""

    __tablename__ = "story_rounds"
    __table_args__ = (
        Index("ix_story_rounds_due", "status", "deadline"),
        Index("ix_story_rounds_story", "story_id", "number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    story_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False
    )
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    parent_node_id: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    direction: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_by: Mapped[int] = mapped_column(BigInteger, nullable=False)
    channel_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Footer lines shown under the round (limits applied, candidates withheld), as posted.
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    quorum: Mapped[int | None] = mapped_column(Integer, nullable=True)
    proposed_node_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    winner_node_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    close_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    closed_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The interaction that asked for the round: run again after its process died, it
    # continues this round (bot/interaction_jobs.py).
    interaction_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Touched by every vote and written candidate (taking the row orders them against a close).
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StoryVoteRow(Base):
    """A member's vote in a round (one per member; changing it replaces it)."""

    __tablename__ = "story_votes"

    round_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("story_rounds.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    node_id: Mapped[int] = mapped_column(Integer, nullable=False)
    voted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


# -- records, detached from the ORM -------------------------------------------------


@dataclass(frozen=True)
class StoryRecord:
    id: int
    guild_id: int
    channel_id: int
    thread_id: int
    title: str
    mode: str
    candidates: int
    window_minutes: int
    quorum: int | None
    preset: str | None
    status: str
    root_node_id: int
    head_node_id: int
    current_round_id: int | None
    created_by: int
    created_at: datetime
    last_activity_at: datetime
    ended_at: datetime | None = None


@dataclass(frozen=True)
class NodeRecord:
    id: int
    story_id: int
    parent_id: int | None
    round_id: int | None
    position: int
    text: str
    source: str
    author_id: int | None
    params: dict[str, Any] | None
    seed: int | None
    mean_logprob: float | None
    votes: int
    status: str
    created_at: datetime


@dataclass(frozen=True)
class RoundRecord:
    id: int
    story_id: int
    number: int
    parent_node_id: int
    status: str
    direction: str | None
    started_by: int
    channel_id: int
    message_id: int | None
    notes: str | None
    deadline: datetime | None
    quorum: int | None
    proposed_node_id: int | None
    winner_node_id: int | None
    close_reason: str | None
    closed_by: int | None
    created_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class NewStory:
    """What `/story start` sets."""

    guild_id: int
    channel_id: int
    thread_id: int
    title: str
    mode: str
    candidates: int
    window_minutes: int
    quorum: int | None
    preset: str | None
    created_by: int
    opening: str


@dataclass(frozen=True)
class NewNode:
    """A node to add (its story, parent and round come from where it is added)."""

    text: str
    source: str
    author_id: int | None = None
    params: dict[str, Any] | None = None
    seed: int | None = None
    mean_logprob: float | None = None


@dataclass(frozen=True)
class VoteChange:
    """What one vote click did: `before` is the member's previous choice (None: first
    vote; equal to `node_id`: the same choice again, nothing changed)."""

    node_id: int
    before: int | None
    voters: int

    @property
    def changed(self) -> bool:
        return self.before != self.node_id


@dataclass(frozen=True)
class RoundState:
    """A round as it stands, with its candidates (in order) — what the rules look at."""

    round: RoundRecord
    story: StoryRecord
    nodes: list[NodeRecord] = field(default_factory=list)

    @property
    def live(self) -> list[NodeRecord]:
        """Candidates still in the running (not rejected)."""
        return [n for n in self.nodes if n.status == CANDIDATE]


# Picks a round's winner among candidates: a node id, or None when a moderator must
# break a tie. Given every candidate still in the running (votes filled in).
Chooser = Callable[[Sequence[NodeRecord]], int | None]


class StoryFull(Exception):
    """A written candidate can't be added: `reason` is "limit" (the round is full) or
    "again" (this member already wrote one this round)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Lost(Exception):
    """Raised inside a write to roll it back: another change got there first."""


def _story(row: StoryRow) -> StoryRecord:
    assert row.root_node_id is not None and row.head_node_id is not None
    return StoryRecord(
        id=row.id,
        guild_id=row.guild_id,
        channel_id=row.channel_id,
        thread_id=row.thread_id,
        title=row.title,
        mode=row.mode,
        candidates=row.candidates,
        window_minutes=row.window_minutes,
        quorum=row.quorum,
        preset=row.preset,
        status=row.status,
        root_node_id=row.root_node_id,
        head_node_id=row.head_node_id,
        current_round_id=row.current_round_id,
        created_by=row.created_by,
        created_at=row.created_at,
        last_activity_at=row.last_activity_at,
        ended_at=row.ended_at,
    )


def _node(row: StoryNodeRow) -> NodeRecord:
    return NodeRecord(
        id=row.id,
        story_id=row.story_id,
        parent_id=row.parent_id,
        round_id=row.round_id,
        position=row.position,
        text=row.text,
        source=row.source,
        author_id=row.author_id,
        params=dict(row.params) if row.params is not None else None,
        seed=row.seed,
        mean_logprob=row.mean_logprob,
        votes=row.votes,
        status=row.status,
        created_at=row.created_at,
    )


def _round(row: StoryRoundRow) -> RoundRecord:
    return RoundRecord(
        id=row.id,
        story_id=row.story_id,
        number=row.number,
        parent_node_id=row.parent_node_id,
        status=row.status,
        direction=row.direction,
        started_by=row.started_by,
        channel_id=row.channel_id,
        message_id=row.message_id,
        notes=row.notes,
        deadline=row.deadline,
        quorum=row.quorum,
        proposed_node_id=row.proposed_node_id,
        winner_node_id=row.winner_node_id,
        close_reason=row.close_reason,
        closed_by=row.closed_by,
        created_at=row.created_at,
        closed_at=row.closed_at,
    )


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class StoryStore:
    """Stories, their trees, rounds and votes (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- stories ---------------------------------------------------------------------

    async def create(self, new: NewStory, now: datetime) -> StoryRecord | None:
        """A new story with its opening as the root; None when the thread already holds
        a story that has not ended."""
        async with self.db.write() as session:
            await lock_guild(session, new.guild_id)
            taken = await session.scalar(
                select(StoryRow.id).where(
                    StoryRow.guild_id == new.guild_id,
                    StoryRow.thread_id == new.thread_id,
                    StoryRow.status != ENDED,
                )
            )
            if taken is not None:
                return None
            row = StoryRow(
                guild_id=new.guild_id,
                channel_id=new.channel_id,
                thread_id=new.thread_id,
                title=new.title[:TITLE_LENGTH],
                mode=new.mode,
                candidates=new.candidates,
                window_minutes=new.window_minutes,
                quorum=new.quorum,
                preset=new.preset,
                status=ACTIVE,
                created_by=new.created_by,
                created_at=now,
                last_activity_at=now,
            )
            session.add(row)
            await session.flush()
            root = StoryNodeRow(
                story_id=row.id,
                text=new.opening,
                source=OPENING,
                author_id=new.created_by,
                status=CHOSEN,
                created_at=now,
            )
            session.add(root)
            await session.flush()
            row.root_node_id = row.head_node_id = root.id
            return _story(row)

    async def story(self, story_id: int) -> StoryRecord | None:
        async with self.db.read() as session:
            row = await session.get(StoryRow, story_id)
            return None if row is None else _story(row)

    async def story_in_thread(self, guild_id: int, thread_id: int) -> StoryRecord | None:
        """The thread's story: the one not ended, else the newest."""
        async with self.db.read() as session:
            rows = (
                await session.scalars(
                    select(StoryRow)
                    .where(StoryRow.guild_id == guild_id, StoryRow.thread_id == thread_id)
                    .order_by(StoryRow.id.desc())
                )
            ).all()
        live = [r for r in rows if r.status != ENDED]
        chosen = live[0] if live else (rows[0] if rows else None)
        return None if chosen is None else _story(chosen)

    async def stories(self, guild_id: int, limit: int = 25) -> list[StoryRecord]:
        """The server's stories, newest first."""
        async with self.db.read() as session:
            rows = await session.scalars(
                select(StoryRow)
                .where(StoryRow.guild_id == guild_id)
                .order_by(StoryRow.id.desc())
                .limit(limit)
            )
            return [_story(r) for r in rows]

    async def nodes(self, story_id: int) -> list[NodeRecord]:
        """Every node of the story, oldest first."""
        async with self.db.read() as session:
            rows = await session.scalars(
                select(StoryNodeRow)
                .where(StoryNodeRow.story_id == story_id)
                .order_by(StoryNodeRow.id)
            )
            return [_node(r) for r in rows]

    async def round_counts(self, story_ids: Sequence[int]) -> dict[int, int]:
        """How many rounds each story has had."""
        if not story_ids:
            return {}
        async with self.db.read() as session:
            rows = await session.execute(
                select(StoryRoundRow.story_id, func.count())
                .where(StoryRoundRow.story_id.in_(story_ids))
                .group_by(StoryRoundRow.story_id)
            )
            return {story_id: int(count) for story_id, count in rows}

    async def touch(self, story_id: int, now: datetime) -> None:
        """Note activity (a paused story stays paused until a round starts)."""
        async with self.db.write() as session:
            await session.execute(
                update(StoryRow).where(StoryRow.id == story_id).values(last_activity_at=now)
            )

    async def move_head(
        self, story_id: int, expected: int, node_id: int, now: datetime, *, undo: bool
    ) -> bool:
        """Continue the text from `node_id` instead of `expected` (the head it had):
        `undo` discards the old head; else (a branch) the new head becomes chosen.
        Only with no round running; False when something changed meanwhile."""
        async with self.db.write() as session:
            moved = await session.execute(
                update(StoryRow)
                .where(
                    StoryRow.id == story_id,
                    StoryRow.head_node_id == expected,
                    StoryRow.current_round_id.is_(None),
                    StoryRow.status != ENDED,
                )
                .values(head_node_id=node_id, last_activity_at=now)
            )
            if _count(moved) != 1:
                return False
            if undo:
                await _set_status(session, [expected], DISCARDED)
            else:
                await _set_status(session, [node_id], CHOSEN)
            return True

    async def end(self, story_id: int, now: datetime) -> tuple[bool, RoundRecord | None]:
        """End the story, once: (whether this call ended it, the round it cancelled)."""
        async with self.db.write() as session:
            ended = await session.execute(
                update(StoryRow)
                .where(StoryRow.id == story_id, StoryRow.status != ENDED)
                .values(status=ENDED, ended_at=now, last_activity_at=now)
            )
            if _count(ended) != 1:
                return False, None
            running = await session.scalar(
                select(StoryRoundRow).where(
                    StoryRoundRow.story_id == story_id, StoryRoundRow.status.in_(RUNNING)
                )
            )
            await session.execute(
                update(StoryRow).where(StoryRow.id == story_id).values(current_round_id=None)
            )
            if running is None:
                return True, None
            await _finish_round(session, running, CANCELLED, None, None, now, reason="ended")
            return True, _round(running)

    async def pause(self, story_id: int, cutoff: datetime) -> StoryRecord | None:
        """Pause the story if it is active, has no round running and saw no activity
        since `cutoff`; the story when this call paused it."""
        async with self.db.write() as session:
            paused = await session.execute(
                update(StoryRow)
                .where(
                    StoryRow.id == story_id,
                    StoryRow.status == ACTIVE,
                    StoryRow.current_round_id.is_(None),
                    StoryRow.last_activity_at < cutoff,
                )
                .values(status=PAUSED)
            )
            if _count(paused) != 1:
                return None
            row = await session.get(StoryRow, story_id)
            assert row is not None
            return _story(row)

    # -- rounds -------------------------------------------------------------------------

    async def begin_round(
        self,
        story_id: int,
        started_by: int,
        direction: str | None,
        now: datetime,
        *,
        interaction_id: int | None = None,
    ) -> RoundRecord | None:
        """A new round (status `generating`) after the story's head, if no other round
        runs; None otherwise. A paused story becomes active again. `interaction_id` is
        the interaction that asked for it (see `round_of_interaction`)."""
        try:
            async with self.db.write() as session:
                story = await session.get(StoryRow, story_id)
                if story is None or story.status == ENDED:
                    return None
                number = await session.scalar(
                    select(func.coalesce(func.max(StoryRoundRow.number), 0)).where(
                        StoryRoundRow.story_id == story_id
                    )
                )
                row = StoryRoundRow(
                    story_id=story_id,
                    number=int(number or 0) + 1,
                    parent_node_id=story.head_node_id,
                    status=GENERATING,
                    direction=direction,
                    started_by=started_by,
                    channel_id=story.thread_id,
                    quorum=story.quorum,
                    interaction_id=interaction_id,
                    created_at=now,
                )
                session.add(row)
                await session.flush()
                claimed = await session.execute(
                    update(StoryRow)
                    .where(
                        StoryRow.id == story_id,
                        StoryRow.status != ENDED,
                        StoryRow.current_round_id.is_(None),
                    )
                    .values(current_round_id=row.id, status=ACTIVE, last_activity_at=now)
                )
                if _count(claimed) != 1:
                    raise _Lost  # another round got there first: undo the insert
                return _round(row)
        except _Lost:
            return None

    async def round_of_interaction(self, story_id: int, interaction_id: int) -> RoundRecord | None:
        """The round this interaction began in this story, if it got that far."""
        async with self.db.read() as session:
            row = await session.scalar(
                select(StoryRoundRow).where(
                    StoryRoundRow.story_id == story_id,
                    StoryRoundRow.interaction_id == interaction_id,
                )
            )
            return None if row is None else _round(row)

    async def open_round(
        self,
        round_id: int,
        nodes: Sequence[NewNode],
        deadline: datetime | None,
        now: datetime,
    ) -> RoundState | None:
        """Add the round's candidates and open it for votes; None when the round is no
        longer generating (it was cancelled meanwhile)."""
        async with self.db.write() as session:
            opened = await session.execute(
                update(StoryRoundRow)
                .where(StoryRoundRow.id == round_id, StoryRoundRow.status == GENERATING)
                .values(status=OPEN, deadline=deadline)
            )
            if _count(opened) != 1:
                return None
            row = await session.get(StoryRoundRow, round_id)
            assert row is not None
            for position, node in enumerate(nodes, start=1):
                session.add(_node_row(row, node, position, CANDIDATE, now))
            await session.execute(
                update(StoryRow).where(StoryRow.id == row.story_id).values(last_activity_at=now)
            )
            await session.flush()
            return await _state(session, row)

    async def abandon_round(self, round_id: int, now: datetime) -> bool:
        """A round that could not get its candidates: cancelled, the story free again."""
        async with self.db.write() as session:
            row = await session.get(StoryRoundRow, round_id)
            if row is None or row.status != GENERATING:
                return False
            await _finish_round(session, row, CANCELLED, None, None, now, reason="failed")
            return True

    async def set_message(self, round_id: int, message_id: int, notes: str | None) -> None:
        """Remember the round's message (and the notes posted under it)."""
        async with self.db.write() as session:
            await session.execute(
                update(StoryRoundRow)
                .where(StoryRoundRow.id == round_id)
                .values(message_id=message_id, notes=notes)
            )

    async def round(self, round_id: int) -> RoundRecord | None:
        async with self.db.read() as session:
            row = await session.get(StoryRoundRow, round_id)
            return None if row is None else _round(row)

    async def round_state(self, round_id: int) -> RoundState | None:
        """The round, its story and its candidates (votes as they stand)."""
        async with self.db.read() as session:
            row = await session.get(StoryRoundRow, round_id)
            if row is None:
                return None
            return await _state(session, row)

    async def vote(
        self, round_id: int, user_id: int, node_id: int, now: datetime
    ) -> VoteChange | None:
        """Record (or change) a member's vote while the round is open; None when it is
        not open or the node is not one of its candidates."""
        async with self.db.write() as session:
            # Taking the round's row first orders this vote against a close.
            touched = await session.execute(
                update(StoryRoundRow)
                .where(StoryRoundRow.id == round_id, StoryRoundRow.status == OPEN)
                .values(updated_at=now)
            )
            if _count(touched) != 1:
                return None
            node = await session.get(StoryNodeRow, node_id)
            if node is None or node.round_id != round_id or node.status != CANDIDATE:
                return None
            vote = await session.get(StoryVoteRow, (round_id, user_id))
            before = vote.node_id if vote is not None else None
            if before != node_id:
                if vote is None:
                    session.add(
                        StoryVoteRow(
                            round_id=round_id, user_id=user_id, node_id=node_id, voted_at=now
                        )
                    )
                else:
                    vote.node_id, vote.voted_at = node_id, now
                    await _add_votes(session, before, -1)
                await _add_votes(session, node_id, 1)
                story_id = node.story_id
                await session.execute(
                    update(StoryRow).where(StoryRow.id == story_id).values(last_activity_at=now)
                )
            await session.flush()
            voters = await session.scalar(
                select(func.count())
                .select_from(StoryVoteRow)
                .where(StoryVoteRow.round_id == round_id)
            )
            return VoteChange(node_id, before, int(voters or 0))

    async def add_written(
        self, round_id: int, node: NewNode, now: datetime, *, limit: int
    ) -> NodeRecord | None:
        """A member's own candidate, while the round is open; None when it is not.
        Raises StoryFull when the round has `limit` candidates or the member wrote one."""
        async with self.db.write() as session:
            touched = await session.execute(
                update(StoryRoundRow)
                .where(StoryRoundRow.id == round_id, StoryRoundRow.status == OPEN)
                .values(updated_at=now)
            )
            if _count(touched) != 1:
                return None
            row = await session.get(StoryRoundRow, round_id)
            assert row is not None
            existing = (
                await session.scalars(select(StoryNodeRow).where(StoryNodeRow.round_id == round_id))
            ).all()
            if len(existing) >= limit:
                raise StoryFull("limit")
            if any(n.source == MEMBER and n.author_id == node.author_id for n in existing):
                raise StoryFull("again")
            position = max((n.position for n in existing), default=0) + 1
            added = _node_row(row, node, position, CANDIDATE, now)
            session.add(added)
            await session.execute(
                update(StoryRow).where(StoryRow.id == row.story_id).values(last_activity_at=now)
            )
            await session.flush()
            return _node(added)

    async def close(
        self,
        round_id: int,
        *,
        reason: str,
        by: int | None,
        now: datetime,
        choose: Chooser,
        needs_approval: bool,
    ) -> RoundState | None:
        """Close an open round, once: its winner is chosen (or, with `needs_approval`,
        proposed to a moderator), or it is tied for a moderator to break. None when the
        round was not open (another click, process or the sweeper closed it first)."""
        async with self.db.write() as session:
            closing = await session.execute(
                update(StoryRoundRow)
                .where(StoryRoundRow.id == round_id, StoryRoundRow.status == OPEN)
                .values(status=CLOSED, close_reason=reason, closed_by=by, closed_at=now)
            )
            if _count(closing) != 1:
                return None
            row = await session.get(StoryRoundRow, round_id)
            assert row is not None
            await _settle(session, row, choose, needs_approval, now)
            return await _state(session, row)

    async def decide(
        self,
        round_id: int,
        node_id: int,
        *,
        action: str,
        by: int,
        now: datetime,
        choose: Chooser,
        edited: NewNode | None = None,
    ) -> RoundState | None:
        """A moderator's decision on the node waiting in a pending round (`approve`,
        `edit` with the `edited` text, `reject`) or on a tied one (`pick`). None when
        the round is not waiting on that node any more (decided already).

        A rejection proposes the next best candidate (or ties); with none left the
        round ends `rerolled` and the story is free for a new round.
        """
        state = PENDING if action in ("approve", "edit", "reject") else TIED
        try:
            return await self._decide(round_id, node_id, state, action, by, now, choose, edited)
        except _Lost:
            return None

    async def _decide(
        self,
        round_id: int,
        node_id: int,
        state: str,
        action: str,
        by: int,
        now: datetime,
        choose: Chooser,
        edited: NewNode | None,
    ) -> RoundState | None:
        async with self.db.write() as session:
            condition = [StoryRoundRow.id == round_id, StoryRoundRow.status == state]
            if state == PENDING:
                condition.append(StoryRoundRow.proposed_node_id == node_id)
            taken = await session.execute(
                update(StoryRoundRow).where(*condition).values(closed_by=by, closed_at=now)
            )
            if _count(taken) != 1:
                return None
            row = await session.get(StoryRoundRow, round_id)
            node = await session.get(StoryNodeRow, node_id)
            assert row is not None
            if node is None or node.round_id != round_id or node.status != CANDIDATE:
                raise _Lost  # not one of the round's candidates: change nothing
            if action == "reject":
                node.status = DISCARDED
                await session.flush()
                await _settle(session, row, choose, True, now, exhausted=REROLLED)
            elif action == "edit":
                assert edited is not None
                node.status = DISCARDED
                added = _node_row(row, edited, 0, CANDIDATE, now)
                session.add(added)
                await session.flush()
                await _finish_round(session, row, CLOSED, added.id, by, now, reason="edited")
            else:
                reason = "approved" if action == "approve" else "picked"
                await _finish_round(session, row, CLOSED, node_id, by, now, reason=reason)
            return await _state(session, row)

    async def reroll(self, round_id: int, by: int, now: datetime) -> RoundState | None:
        """Discard a deciding round's candidates, once (`rerolled`), and free the story
        for the round that replaces it."""
        async with self.db.write() as session:
            taken = await session.execute(
                update(StoryRoundRow)
                .where(StoryRoundRow.id == round_id, StoryRoundRow.status.in_(DECIDING))
                .values(status=REROLLED)
            )
            if _count(taken) != 1:
                return None
            row = await session.get(StoryRoundRow, round_id)
            assert row is not None
            await _finish_round(session, row, REROLLED, None, by, now, reason="rerolled")
            return await _state(session, row)

    # -- what the sweeper looks for -------------------------------------------------------

    async def due_rounds(self, now: datetime, limit: int = 100) -> list[RoundRecord]:
        """Open rounds whose window has ended."""
        async with self.db.read() as session:
            rows = await session.scalars(
                select(StoryRoundRow)
                .where(StoryRoundRow.status == OPEN, StoryRoundRow.deadline <= now)
                .order_by(StoryRoundRow.deadline)
                .limit(limit)
            )
            return [_round(r) for r in rows]

    async def stuck_rounds(self, cutoff: datetime, limit: int = 100) -> list[RoundRecord]:
        """Rounds still generating since before `cutoff` (their process died)."""
        async with self.db.read() as session:
            rows = await session.scalars(
                select(StoryRoundRow)
                .where(StoryRoundRow.status == GENERATING, StoryRoundRow.created_at < cutoff)
                .limit(limit)
            )
            return [_round(r) for r in rows]

    async def idle_stories(self, cutoff: datetime, limit: int = 100) -> list[StoryRecord]:
        """Active stories with no round running and no activity since `cutoff`."""
        async with self.db.read() as session:
            rows = await session.scalars(
                select(StoryRow)
                .where(
                    StoryRow.status == ACTIVE,
                    StoryRow.current_round_id.is_(None),
                    StoryRow.last_activity_at < cutoff,
                )
                .order_by(StoryRow.last_activity_at)
                .limit(limit)
            )
            return [_story(r) for r in rows]


# -- inside a transaction ------------------------------------------------------------------


def _node_row(
    row: StoryRoundRow, node: NewNode, position: int, status: str, now: datetime
) -> StoryNodeRow:
    return StoryNodeRow(
        story_id=row.story_id,
        parent_id=row.parent_node_id,
        round_id=row.id,
        position=position,
        text=node.text,
        source=node.source,
        author_id=node.author_id,
        params=node.params,
        seed=node.seed,
        mean_logprob=node.mean_logprob,
        votes=0,
        status=status,
        created_at=now,
    )


async def _state(session: AsyncSession, row: StoryRoundRow) -> RoundState:
    story = await session.get(StoryRow, row.story_id)
    assert story is not None
    nodes = (
        await session.scalars(
            select(StoryNodeRow)
            .where(StoryNodeRow.round_id == row.id)
            .order_by(StoryNodeRow.position, StoryNodeRow.id)
        )
    ).all()
    return RoundState(_round(row), _story(story), [_node(n) for n in nodes])


async def _add_votes(session: AsyncSession, node_id: int | None, delta: int) -> None:
    if node_id is None:
        return
    await session.execute(
        update(StoryNodeRow)
        .where(StoryNodeRow.id == node_id)
        .values(votes=StoryNodeRow.votes + delta)
    )


async def _set_status(session: AsyncSession, node_ids: Sequence[int], status: str) -> None:
    if node_ids:
        await session.execute(
            update(StoryNodeRow).where(StoryNodeRow.id.in_(node_ids)).values(status=status)
        )


async def _candidate_ids(session: AsyncSession, round_id: int) -> list[int]:
    rows = await session.scalars(
        select(StoryNodeRow.id).where(
            StoryNodeRow.round_id == round_id, StoryNodeRow.status == CANDIDATE
        )
    )
    return list(rows)


async def _settle(
    session: AsyncSession,
    row: StoryRoundRow,
    choose: Chooser,
    needs_approval: bool,
    now: datetime,
    *,
    exhausted: str = CANCELLED,
) -> None:
    """After a close or a rejection: choose among the candidates still in the running."""
    state = await _state(session, row)
    live = state.live
    if not live:
        await _finish_round(session, row, exhausted, None, None, now, reason="none left")
        return
    winner = choose(live)
    if winner is None:
        row.status, row.proposed_node_id = TIED, None
    elif needs_approval:
        row.status, row.proposed_node_id = PENDING, winner
    else:
        await _finish_round(session, row, CLOSED, winner, row.closed_by, now, reason=None)


async def _finish_round(
    session: AsyncSession,
    row: StoryRoundRow,
    status: str,
    winner: int | None,
    by: int | None,
    now: datetime,
    *,
    reason: str | None,
) -> None:
    """End a round: the winner chosen and made the story's head, the other candidates
    discarded, the story free for the next round."""
    others = [i for i in await _candidate_ids(session, row.id) if i != winner]
    await _set_status(session, others, DISCARDED)
    row.status, row.winner_node_id, row.proposed_node_id = status, winner, None
    row.closed_at = now
    if by is not None:
        row.closed_by = by
    if reason is not None:
        row.close_reason = reason
    values: dict[str, Any] = {"current_round_id": None, "last_activity_at": now}
    if winner is not None:
        await _set_status(session, [winner], CHOSEN)
        values["head_node_id"] = winner
    await session.execute(
        update(StoryRow)
        .where(StoryRow.id == row.story_id, StoryRow.current_round_id == row.id)
        .values(**values)
    )
    await session.flush()
