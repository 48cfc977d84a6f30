"""What moderation keeps: each server's policy and word lists, every verdict and
decision (`moderation_events`), and the texts held for a moderator's review.

A held text is decided once: `decide` is one `UPDATE … WHERE status = 'held'`
whose row count says whether this click won, so two moderators clicking at the
same moment cannot both approve it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint, select, update
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.audit import AuditRepository
from bot.storage.database import Database
from bot.storage.locks import lock_guild
from bot.storage.models import Base, JSONValue, UTCDateTime, utcnow

# Discord's own limits for AutoMod entries: keywords 60 characters, regexes 260.
WORD_LENGTH = 260
HELD = "held"


class ModerationPolicyRow(Base):
    """One server's moderation policy: only what differs from the defaults is stored."""

    __tablename__ = "moderation_policies"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # {category: action} for the categories the server changed.
    actions: Mapped[dict[str, str]] = mapped_column(JSONValue, nullable=False, default=dict)
    # "open" or "closed"; None: the default (closed).
    on_failure: Mapped[str | None] = mapped_column(String(8), nullable=True)
    # Where reports and held texts go; None: no moderation channel.
    channel_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_by: Mapped[int] = mapped_column(BigInteger, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ModerationWordRow(Base):
    """One entry of a server's word list: a keyword, a regex or an allow-list entry."""

    __tablename__ = "moderation_words"
    __table_args__ = (UniqueConstraint("guild_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)  # keyword | regex | allow
    value: Mapped[str] = mapped_column(String(WORD_LENGTH), nullable=False)
    added_by: Mapped[int] = mapped_column(BigInteger, nullable=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ModerationEventRow(Base):
    """One verdict (input or output) or one moderator's decision."""

    __tablename__ = "moderation_events"
    __table_args__ = (Index(None, "guild_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    channel_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    user_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    stage: Mapped[str] = mapped_column(String(16), nullable=False)  # input | output | review
    provider: Mapped[str] = mapped_column(String(64), nullable=False)
    # {category: score} of what was found (empty for a decision or a failure).
    categories: Mapped[dict[str, float]] = mapped_column(JSONValue, nullable=False, default=dict)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    reviewer_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    held_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class HeldTextRow(Base):
    """A generated text waiting for (or past) a moderator's decision."""

    __tablename__ = "moderation_held"
    __table_args__ = (Index(None, "guild_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    channel_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    user_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    prompt: Mapped[str] = mapped_column(Text, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    categories: Mapped[dict[str, float]] = mapped_column(JSONValue, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=HELD)
    review_channel_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    review_message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    decided_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ListFull(ValueError):
    """A word list would hold more entries of `kind` than `limit`."""

    def __init__(self, kind: str, limit: int) -> None:
        super().__init__(f"more than {limit} {kind} entries")
        self.kind = kind
        self.limit = limit


@dataclass(frozen=True)
class PolicyRecord:
    """A server's stored policy (the overrides; defaults live in bot.moderation.policy)."""

    actions: dict[str, str] = field(default_factory=dict)
    on_failure: str | None = None
    channel_id: int | None = None


@dataclass(frozen=True)
class WordEntry:
    kind: str
    value: str


@dataclass
class EventRecord:
    """One row of `moderation_events`, detached from the ORM."""

    user_id: int
    stage: str
    provider: str
    action: str
    guild_id: int | None = None
    channel_id: int | None = None
    categories: dict[str, float] = field(default_factory=dict)
    reviewer_id: int | None = None
    held_id: int | None = None
    at: datetime | None = None
    id: int | None = None


@dataclass
class HeldText:
    """One row of `moderation_held`, detached from the ORM."""

    guild_id: int
    channel_id: int
    user_id: int
    prompt: str
    text: str
    categories: dict[str, float] = field(default_factory=dict)
    status: str = HELD
    review_channel_id: int | None = None
    review_message_id: int | None = None
    decided_by: int | None = None
    decided_at: datetime | None = None
    created_at: datetime | None = None
    id: int | None = None


def _event(row: ModerationEventRow) -> EventRecord:
    return EventRecord(
        id=row.id,
        guild_id=row.guild_id,
        channel_id=row.channel_id,
        user_id=row.user_id,
        stage=row.stage,
        provider=row.provider,
        categories=dict(row.categories or {}),
        action=row.action,
        reviewer_id=row.reviewer_id,
        held_id=row.held_id,
        at=row.at,
    )


def _held(row: HeldTextRow) -> HeldText:
    return HeldText(
        id=row.id,
        guild_id=row.guild_id,
        channel_id=row.channel_id,
        user_id=row.user_id,
        prompt=row.prompt,
        text=row.text,
        categories=dict(row.categories or {}),
        status=row.status,
        review_channel_id=row.review_channel_id,
        review_message_id=row.review_message_id,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        created_at=row.created_at,
    )


class ModerationStore:
    """Policies, word lists, events and held texts."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- policy and word lists (written under the server's configuration lock) --

    async def policy(self, guild_id: int) -> PolicyRecord:
        """The server's stored overrides (empty when it never changed anything)."""
        async with self.db.read() as session:
            row = await session.get(ModerationPolicyRow, guild_id)
            if row is None:
                return PolicyRecord()
            return PolicyRecord(dict(row.actions or {}), row.on_failure, row.channel_id)

    async def update_policy(
        self, guild_id: int, actor_id: int, target: str, **changes: Any
    ) -> tuple[PolicyRecord, PolicyRecord]:
        """Change `actions` (merged), `on_failure` or `channel_id`; returns (before, after).

        The change and its audit entry (`moderation.set`, about `target`) are
        written together.
        """
        async with self.db.write() as session:
            await lock_guild(session, guild_id)
            row = await session.get(ModerationPolicyRow, guild_id)
            if row is None:
                row = ModerationPolicyRow(guild_id=guild_id, actions={}, updated_by=actor_id)
                session.add(row)
            before = PolicyRecord(dict(row.actions or {}), row.on_failure, row.channel_id)
            if "actions" in changes:
                merged = {**before.actions, **changes["actions"]}
                row.actions = {k: v for k, v in merged.items() if v is not None}
            if "on_failure" in changes:
                row.on_failure = changes["on_failure"]
            if "channel_id" in changes:
                row.channel_id = changes["channel_id"]
            row.updated_by = actor_id
            row.updated_at = utcnow()
            after = PolicyRecord(dict(row.actions), row.on_failure, row.channel_id)
            AuditRepository(session).record(
                guild_id,
                actor_id,
                "moderation.set",
                target,
                _audit_value(before, target),
                _audit_value(after, target),
            )
        return before, after

    async def words(self, guild_id: int) -> list[WordEntry]:
        """The server's word list entries, oldest first."""
        async with self.db.read() as session:
            rows = await session.execute(
                select(ModerationWordRow.kind, ModerationWordRow.value)
                .where(ModerationWordRow.guild_id == guild_id)
                .order_by(ModerationWordRow.id)
            )
            return [WordEntry(kind, value) for kind, value in rows]

    async def change_words(
        self,
        guild_id: int,
        actor_id: int,
        add: Sequence[WordEntry] = (),
        remove: Sequence[str] = (),
        *,
        limits: Mapping[str, int] | None = None,
    ) -> tuple[list[WordEntry], list[WordEntry]]:
        """Add entries (ignoring ones already there) and remove entries by value.

        Returns (added, removed). With `limits` ({kind: most entries}), raises
        `ListFull` when a kind would grow past its limit (nothing is written then).
        """
        async with self.db.write() as session:
            await lock_guild(session, guild_id)
            rows = (
                await session.scalars(
                    select(ModerationWordRow).where(ModerationWordRow.guild_id == guild_id)
                )
            ).all()
            existing = {(r.kind, r.value) for r in rows}
            removed = []
            for row in rows:
                if row.value in remove:
                    removed.append(WordEntry(row.kind, row.value))
                    existing.discard((row.kind, row.value))
                    await session.delete(row)
            added = []
            for entry in add:
                if (entry.kind, entry.value) in existing:
                    continue
                existing.add((entry.kind, entry.value))
                added.append(entry)
                session.add(
                    ModerationWordRow(
                        guild_id=guild_id, kind=entry.kind, value=entry.value, added_by=actor_id
                    )
                )
            for kind, most in (limits or {}).items():
                count = sum(1 for k, _ in existing if k == kind)
                if count > most:
                    raise ListFull(kind, most)
            audit = AuditRepository(session)
            if added:
                audit.record(
                    guild_id, actor_id, "moderation.words", "add", None, [e.value for e in added]
                )
            if removed:
                audit.record(
                    guild_id,
                    actor_id,
                    "moderation.words",
                    "remove",
                    [e.value for e in removed],
                    None,
                )
        return added, removed

    # -- events ----------------------------------------------------------------

    async def record(self, events: Sequence[EventRecord]) -> None:
        """Keep verdicts (one transaction for all of them)."""
        if not events:
            return
        async with self.db.write() as session:
            session.add_all(_event_row(e) for e in events)

    async def recent_events(self, guild_id: int, limit: int = 10) -> list[EventRecord]:
        """The server's newest events first."""
        async with self.db.read() as session:
            rows = await session.scalars(
                select(ModerationEventRow)
                .where(ModerationEventRow.guild_id == guild_id)
                .order_by(ModerationEventRow.id.desc())
                .limit(limit)
            )
            return [_event(row) for row in rows]

    # -- held texts --------------------------------------------------------------

    async def hold(self, item: HeldText) -> int:
        """Store a held text; returns its id."""
        row = HeldTextRow(
            guild_id=item.guild_id,
            channel_id=item.channel_id,
            user_id=item.user_id,
            prompt=item.prompt,
            text=item.text,
            categories=item.categories,
            status=HELD,
        )
        async with self.db.write() as session:
            session.add(row)
            await session.flush()
            item.id, item.created_at = row.id, row.created_at
        return row.id

    async def held(self, held_id: int) -> HeldText | None:
        async with self.db.read() as session:
            row = await session.get(HeldTextRow, held_id)
            return None if row is None else _held(row)

    async def set_review_message(self, held_id: int, channel_id: int, message_id: int) -> None:
        async with self.db.write() as session:
            await session.execute(
                update(HeldTextRow)
                .where(HeldTextRow.id == held_id)
                .values(review_channel_id=channel_id, review_message_id=message_id)
            )

    async def decide(self, held_id: int, status: str, reviewer_id: int, action: str) -> bool:
        """Move a held text to `status` if it is still held; True when this call decided it.

        The decision's event is written in the same transaction, only by the winner.
        """
        now = utcnow()
        async with self.db.write() as session:
            result = await session.execute(
                update(HeldTextRow)
                .where(HeldTextRow.id == held_id, HeldTextRow.status == HELD)
                .values(status=status, decided_by=reviewer_id, decided_at=now)
            )
            if int(getattr(result, "rowcount", 0) or 0) != 1:
                return False
            row = await session.get(HeldTextRow, held_id)
            assert row is not None
            session.add(
                ModerationEventRow(
                    guild_id=row.guild_id,
                    channel_id=row.channel_id,
                    user_id=row.user_id,
                    stage="review",
                    provider="moderator",
                    categories={},
                    action=action,
                    reviewer_id=reviewer_id,
                    held_id=held_id,
                    at=now,
                )
            )
        return True


def _event_row(event: EventRecord) -> ModerationEventRow:
    return ModerationEventRow(
        guild_id=event.guild_id,
        channel_id=event.channel_id,
        user_id=event.user_id,
        stage=event.stage,
        provider=event.provider[:64],
        categories=event.categories,
        action=event.action,
        reviewer_id=event.reviewer_id,
        held_id=event.held_id,
        at=event.at or utcnow(),
    )


def _audit_value(policy: PolicyRecord, target: str) -> Any:
    """What one policy change is about, for the audit log."""
    if target == "channel":
        return policy.channel_id
    if target == "on_failure":
        return policy.on_failure
    return policy.actions.get(target)
