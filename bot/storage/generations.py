"""Stored generations: what a button on a completion message refers to.

Buttons carry only a generation id in their custom_id, so they keep working
across restarts; the request and result live here. Old rows are pruned, and a
button whose generation is gone says so.

Adds made at the same time share one transaction (`BatchWriter`), and each
returns only once its row is committed: the reply that shows buttons for a
generation comes after the generation is durable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, insert
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.batching import BatchWriter
from bot.storage.database import Database
from bot.storage.models import Base, UTCDateTime, utcnow
from bot.storage.retention import prune_older_than

log = logging.getLogger(__name__)


class GenerationRow(Base):
    """One /complete (or Regenerate, or Continue): its request and its result."""

    __tablename__ = "generations"
    __table_args__ = (Index(None, "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    channel_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    user_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    private: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The CompletionRequest as sent (after presets, defaults and clamps).
    request: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    # The CompletionResult as received (choices, logprobs, usage, notes).
    result: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    # How it was shown: cleaning mode, echoed prompt, continued text, notes.
    display: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


@dataclass
class GenerationRecord:
    """A stored generation, detached from the ORM."""

    user_id: int
    request: dict[str, Any]
    result: dict[str, Any]
    display: dict[str, Any] = field(default_factory=dict)
    guild_id: int | None = None
    channel_id: int | None = None
    private: bool = False
    id: int | None = None
    created_at: datetime | None = None


class GenerationStore:
    """Add, fetch and prune stored generations."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.writer: BatchWriter[GenerationRecord, int] = BatchWriter(self._insert)

    async def add(self, record: GenerationRecord) -> int:
        """Store `record` and return its new id, once committed."""
        return await self.writer.submit(record)

    async def _insert(self, records: list[GenerationRecord]) -> list[int]:
        """One transaction, one multi-row INSERT … RETURNING for every record."""
        now = utcnow()
        rows = [
            {
                "guild_id": record.guild_id,
                "channel_id": record.channel_id,
                "user_id": record.user_id,
                "private": record.private,
                "request": record.request,
                "result": record.result,
                "display": record.display,
                "created_at": now,
            }
            for record in records
        ]
        statement = insert(GenerationRow).returning(GenerationRow.id, sort_by_parameter_order=True)
        async with self.db.write() as session:
            ids = list((await session.scalars(statement, rows)).all())
        for record, row_id in zip(records, ids, strict=True):
            record.id, record.created_at = row_id, now
        return ids

    async def close(self) -> None:
        """Finish the writes in progress (call before the database is disposed of)."""
        await self.writer.close()

    async def get(self, generation_id: int) -> GenerationRecord | None:
        """The generation with this id, or None when it never existed or was pruned."""
        async with self.db.read() as session:
            row = await session.get(GenerationRow, generation_id)
            if row is None:
                return None
            return GenerationRecord(
                id=row.id,
                guild_id=row.guild_id,
                channel_id=row.channel_id,
                user_id=row.user_id,
                private=row.private,
                request=dict(row.request),
                result=dict(row.result),
                display=dict(row.display or {}),
                created_at=row.created_at,
            )

    async def prune(self, older_than: timedelta) -> int:
        """Delete generations created more than `older_than` ago; returns how many."""
        return await prune_older_than(self.db, GenerationRow, older_than, "stored generations")
