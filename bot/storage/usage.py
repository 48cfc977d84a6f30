"""The usage ledger (one row per generation sent to the backend) and usage limits.

The ledger is the source of truth for usage: `/usage` reads it, and the
limit counters are rebuilt from it on start. Rows are only ever added, in
batches (`add_many`). Limits are one row per server, role and limit name;
role 0 holds the server's own value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Index,
    Integer,
    String,
    delete,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.database import Database
from bot.storage.models import SETTING_NAME_LENGTH, Base, UTCDateTime, utcnow

# BIGINT on PostgreSQL (the ledger only grows); SQLite autoincrements INTEGER only.
LedgerId = BigInteger().with_variant(Integer(), "sqlite")

MODEL_LENGTH = 200
ENTRY_ID_LENGTH = 32
NAME_LENGTH = 100
# Role id under which a server's own limit values are kept.
SERVER_ROLE = 0


class UsageRow(Base):
    """One generation sent to the backend: who, where, what it cost, how it went."""

    __tablename__ = "usage_ledger"
    __table_args__ = (
        Index("ix_usage_ledger_guild_day", "guild_id", "day"),
        Index("ix_usage_ledger_member_day", "guild_id", "user_id", "day"),
        Index("ix_usage_ledger_created_at", "created_at"),
        # Writing a batch twice (two flushers, a retry after a lost answer) adds nothing.
        Index("uq_usage_ledger_entry_id", "entry_id", unique=True),
    )

    id: Mapped[int] = mapped_column(LedgerId, primary_key=True, autoincrement=True)
    # The entry's own id, given when it was recorded (rows from before it have none).
    entry_id: Mapped[str | None] = mapped_column(String(ENTRY_ID_LENGTH), nullable=True)
    # When the request was admitted (UTC), and its UTC calendar day.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    guild_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    channel_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    user_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The member's name when they asked (for the CSV export).
    user_name: Mapped[str] = mapped_column(String(NAME_LENGTH), nullable=False, default="")
    story_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # What asked: "complete", "sampling", ...
    command: Mapped[str] = mapped_column(String(32), nullable=False)
    backend: Mapped[str] = mapped_column(String(32), nullable=False)
    model: Mapped[str] = mapped_column(String(MODEL_LENGTH), nullable=False, default="")
    prompt_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # True when the backend reported no usage and the tokens were counted with
    # its tokenizer (or estimated, without one).
    tokens_counted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    n: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    best_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # HTTP requests the generation took (several when n or best_of is emulated).
    requests: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # "ok", "error" or "cancelled".
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    latency_ms: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Time spent waiting in the queue to the backend.
    wait_ms: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class UsageLimitRow(Base):
    """One limit value of a server (role 0) or of one of its roles."""

    __tablename__ = "usage_limits"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    role_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(SETTING_NAME_LENGTH), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)
    updated_by: Mapped[int] = mapped_column(BigInteger, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


# -- the ledger -------------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    """Requests and tokens of a group of ledger rows."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class MemberDay:
    """One member's use on one UTC day (a row of the CSV export)."""

    day: date
    user_id: int
    user_name: str
    totals: Totals


def _totals_columns() -> tuple[Any, Any, Any]:
    return (
        func.count(UsageRow.id),
        func.coalesce(func.sum(UsageRow.prompt_tokens), 0),
        func.coalesce(func.sum(UsageRow.completion_tokens), 0),
    )


def _totals(row: Any) -> Totals:
    return Totals(int(row[0]), int(row[1]), int(row[2]))


def _guild_filter(guild_id: int | None) -> Any:
    return UsageRow.guild_id.is_(None) if guild_id is None else UsageRow.guild_id == guild_id


class LedgerStore:
    """Adds ledger rows in batches and answers the questions `/usage` and the counters ask."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_many(self, rows: Iterable[dict[str, Any]]) -> int:
        """Insert rows (column name → value) in one transaction; returns how many.

        A row whose `entry_id` is already in the ledger is skipped, so a batch
        written twice is kept once.
        """
        batch = list(rows)
        if not batch:
            return 0

        # One Core executemany (no ORM objects): the ledger is written every
        # second. A row already there (a queued entry sent twice) is skipped.
        def insert(conn: Connection) -> None:
            dialect = conn.dialect.name
            insert_for = postgresql_insert if dialect == "postgresql" else sqlite_insert
            stmt = insert_for(UsageRow).on_conflict_do_nothing(index_elements=["entry_id"])
            conn.execute(stmt, batch)

        await self.db.run_write(insert, bulk=True)
        return len(batch)

    async def existing(self, entry_ids: Sequence[str]) -> set[str]:
        """Which of these entry ids the ledger holds."""
        found: set[str] = set()
        for start in range(0, len(entry_ids), 500):
            chunk = list(entry_ids[start : start + 500])
            async with self.db.read() as session:
                rows = await session.scalars(
                    select(UsageRow.entry_id).where(UsageRow.entry_id.in_(chunk))
                )
                found.update(row for row in rows if row is not None)
        return found

    async def totals(
        self, guild_id: int | None, since: date, *, user_id: int | None = None
    ) -> Totals:
        """Everything from UTC day `since` on, for a server (or one of its members)."""
        stmt = select(*_totals_columns()).where(_guild_filter(guild_id), UsageRow.day >= since)
        if user_id is not None:
            stmt = stmt.where(UsageRow.user_id == user_id)
        async with self.db.read() as session:
            return _totals((await session.execute(stmt)).one())

    async def by_day(self, guild_id: int, since: date) -> list[tuple[date, Totals]]:
        """A server's totals per UTC day from `since`, oldest first."""
        stmt = (
            select(UsageRow.day, *_totals_columns())
            .where(UsageRow.guild_id == guild_id, UsageRow.day >= since)
            .group_by(UsageRow.day)
            .order_by(UsageRow.day)
        )
        async with self.db.read() as session:
            return [(row[0], _totals(row[1:])) for row in await session.execute(stmt)]

    async def by_model(self, guild_id: int, since: date) -> list[tuple[str, Totals]]:
        """A server's totals per model from `since`, most tokens first."""
        stmt = (
            select(UsageRow.model, *_totals_columns())
            .where(UsageRow.guild_id == guild_id, UsageRow.day >= since)
            .group_by(UsageRow.model)
        )
        async with self.db.read() as session:
            found = [(str(row[0]), _totals(row[1:])) for row in await session.execute(stmt)]
        return sorted(found, key=lambda item: (-item[1].tokens, item[0]))

    async def by_member(self, guild_id: int, since: date) -> list[tuple[int, Totals]]:
        """A server's totals per member from `since`, most tokens first."""
        stmt = (
            select(UsageRow.user_id, *_totals_columns())
            .where(UsageRow.guild_id == guild_id, UsageRow.day >= since)
            .group_by(UsageRow.user_id)
        )
        async with self.db.read() as session:
            found = [(int(row[0]), _totals(row[1:])) for row in await session.execute(stmt)]
        return sorted(found, key=lambda item: (-item[1].tokens, item[0]))

    async def member_days(self, guild_id: int, since: date) -> list[MemberDay]:
        """One row per member per UTC day from `since`, with the member's latest name."""
        stmt = (
            select(UsageRow.day, UsageRow.user_id, *_totals_columns(), func.max(UsageRow.id))
            .where(UsageRow.guild_id == guild_id, UsageRow.day >= since)
            .group_by(UsageRow.day, UsageRow.user_id)
            .order_by(UsageRow.day, UsageRow.user_id)
        )
        names_stmt = (
            select(UsageRow.user_id, UsageRow.user_name, UsageRow.id)
            .where(UsageRow.guild_id == guild_id, UsageRow.day >= since)
            .order_by(UsageRow.id)
        )
        async with self.db.read() as session:
            rows = list(await session.execute(stmt))
            names = {int(uid): name for uid, name, _ in await session.execute(names_stmt)}
        return [
            MemberDay(row[0], int(row[1]), names.get(int(row[1]), ""), _totals(row[2:5]))
            for row in rows
        ]

    async def member_tokens(self, day: date) -> list[tuple[int | None, int, int]]:
        """(server, member, tokens) for every member with rows on UTC day `day`."""
        stmt = (
            select(
                UsageRow.guild_id,
                UsageRow.user_id,
                func.sum(UsageRow.prompt_tokens + UsageRow.completion_tokens),
            )
            .where(UsageRow.day == day)
            .group_by(UsageRow.guild_id, UsageRow.user_id)
        )
        async with self.db.read() as session:
            return [(row[0], int(row[1]), int(row[2] or 0)) for row in await session.execute(stmt)]

    async def server_tokens(self, first: date, last: date) -> list[tuple[int, int]]:
        """(server, tokens) for every server with rows between UTC days `first` and `last`."""
        stmt = (
            select(UsageRow.guild_id, func.sum(UsageRow.prompt_tokens + UsageRow.completion_tokens))
            .where(UsageRow.day >= first, UsageRow.day <= last, UsageRow.guild_id.is_not(None))
            .group_by(UsageRow.guild_id)
        )
        async with self.db.read() as session:
            return [(int(row[0] or 0), int(row[1] or 0)) for row in await session.execute(stmt)]

    async def requests_since(self, since: datetime) -> list[tuple[int, int | None, int, datetime]]:
        """(row id, server, member, time) of every row created at or after `since`."""
        stmt = (
            select(UsageRow.id, UsageRow.guild_id, UsageRow.user_id, UsageRow.created_at)
            .where(UsageRow.created_at >= since)
            .order_by(UsageRow.id)
        )
        async with self.db.read() as session:
            return [(int(r[0]), r[1], int(r[2]), r[3]) for r in await session.execute(stmt)]


# -- limits -----------------------------------------------------------------------


class UsageLimitsRepository:
    """Reads and writes `usage_limits` for one session (write under the guild lock)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self, guild_id: int) -> dict[int, dict[str, int]]:
        """Every value the server set: role id (0 for the server) → name → value."""
        rows = await self.session.execute(
            select(UsageLimitRow.role_id, UsageLimitRow.name, UsageLimitRow.value).where(
                UsageLimitRow.guild_id == guild_id
            )
        )
        found: dict[int, dict[str, int]] = {}
        for role_id, name, value in rows:
            found.setdefault(int(role_id), {})[name] = int(value)
        return found

    async def put(self, guild_id: int, role_id: int, name: str, value: int, actor_id: int) -> None:
        """Insert or update one value."""
        row = await self.session.get(UsageLimitRow, (guild_id, role_id, name))
        if row is None:
            self.session.add(
                UsageLimitRow(
                    guild_id=guild_id,
                    role_id=role_id,
                    name=name,
                    value=value,
                    updated_by=actor_id,
                    updated_at=utcnow(),
                )
            )
        else:
            row.value, row.updated_by, row.updated_at = value, actor_id, utcnow()
        await self.session.flush()

    async def remove(
        self, guild_id: int, *, names: Sequence[str] | None = None, role_id: int | None = None
    ) -> None:
        """Delete values: of some names (all when None), of one role (every role when None)."""
        stmt = delete(UsageLimitRow).where(UsageLimitRow.guild_id == guild_id)
        if names is not None:
            stmt = stmt.where(UsageLimitRow.name.in_(names))
        if role_id is not None:
            stmt = stmt.where(UsageLimitRow.role_id == role_id)
        await self.session.execute(stmt)
