"""Interactions being answered, kept until answered, so none is lost with its process.

When a process starts working on an interaction that takes a while (a
generation), it adds a row: the interaction as Discord sent it (its token
lets any process edit the answer for 15 minutes) and what the handler needs
to run it again. The owner refreshes `heartbeat_at` while it works and deletes
the row once the member has an answer. A row whose heartbeat stopped (the
process was killed) is claimed by another process — or the same one restarted
— with one `UPDATE … WHERE heartbeat_at < …`, so exactly one of them runs it
again. Rows past Discord's 15 minutes can no longer be answered and are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.database import Database
from bot.storage.models import Base, JSONValue, UTCDateTime, utcnow

OWNER_LENGTH = 64
# A heartbeat this old means nobody works on the row.
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


class InteractionJobRow(Base):
    """One interaction a process is answering."""

    __tablename__ = "interaction_jobs"
    __table_args__ = (Index("ix_interaction_jobs_heartbeat_at", "heartbeat_at"),)

    # The interaction's id.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # Which handler runs it again ("complete", "regenerate", ...).
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    # The interaction as Discord sent it, and the handler's arguments.
    interaction: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False)
    args: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False)
    owner: Mapped[str] = mapped_column(String(OWNER_LENGTH), nullable=False)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # When Discord stops accepting answers (15 minutes after the interaction).
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # How many times a process started on it (a row that kills its process is given up).
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


@dataclass(frozen=True)
class Job:
    """An interaction being answered, as stored."""

    id: int
    kind: str
    interaction: dict[str, Any]
    args: dict[str, Any]
    expires_at: datetime
    attempts: int = 1


def _job(row: InteractionJobRow) -> Job:
    return Job(
        row.id, row.kind, dict(row.interaction), dict(row.args), row.expires_at, row.attempts
    )


class JobStore:
    """Adds, refreshes, claims and removes interaction jobs."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, job: Job, owner: str) -> None:
        """Start a job owned by `owner` (a job already there, say after a retry, is replaced)."""
        async with self.db.write() as session:
            await session.execute(delete(InteractionJobRow).where(InteractionJobRow.id == job.id))
            session.add(
                InteractionJobRow(
                    id=job.id,
                    kind=job.kind[:32],
                    interaction=job.interaction,
                    args=job.args,
                    owner=owner[:OWNER_LENGTH],
                    heartbeat_at=utcnow(),
                    expires_at=job.expires_at,
                    attempts=job.attempts,
                )
            )

    async def finish(self, job_id: int) -> None:
        """The member has an answer: forget the job."""
        async with self.db.write() as session:
            await session.execute(delete(InteractionJobRow).where(InteractionJobRow.id == job_id))

    async def heartbeat(self, owner: str) -> int:
        """Mark every job of `owner` as still being worked on; returns how many."""
        async with self.db.write() as session:
            result = await session.execute(
                update(InteractionJobRow)
                .where(InteractionJobRow.owner == owner[:OWNER_LENGTH])
                .values(heartbeat_at=utcnow())
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def abandon(self, owner: str) -> int:
        """Leave `owner`'s jobs for anyone to claim at once (a clean stop mid-work)."""
        async with self.db.write() as session:
            result = await session.execute(
                update(InteractionJobRow)
                .where(InteractionJobRow.owner == owner[:OWNER_LENGTH])
                .values(heartbeat_at=LONG_AGO)
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def claim_stale(self, owner: str, stale_before: datetime, limit: int = 20) -> list[Job]:
        """Take jobs nobody works on (heartbeat before `stale_before`), still answerable.

        Each is claimed with an `UPDATE … WHERE heartbeat_at < stale_before`, so of
        several processes claiming at once exactly one gets it.
        """
        now = utcnow()
        async with self.db.read() as session:
            rows = (
                await session.scalars(
                    select(InteractionJobRow)
                    .where(
                        InteractionJobRow.heartbeat_at < stale_before,
                        InteractionJobRow.expires_at > now,
                    )
                    .order_by(InteractionJobRow.created_at)
                    .limit(limit)
                )
            ).all()
        claimed = []
        for row in rows:
            async with self.db.write() as session:
                result = await session.execute(
                    update(InteractionJobRow)
                    .where(
                        InteractionJobRow.id == row.id,
                        InteractionJobRow.heartbeat_at < stale_before,
                    )
                    .values(
                        owner=owner[:OWNER_LENGTH],
                        heartbeat_at=utcnow(),
                        attempts=InteractionJobRow.attempts + 1,
                    )
                )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                job = _job(row)
                claimed.append(replace(job, attempts=job.attempts + 1))
        return claimed

    async def drop_expired(self) -> int:
        """Remove jobs Discord no longer lets anyone answer; returns how many."""
        async with self.db.write() as session:
            result = await session.execute(
                delete(InteractionJobRow).where(InteractionJobRow.expires_at <= utcnow())
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def pending(self) -> list[Job]:
        """Every job still stored (for tests and /readyz)."""
        async with self.db.read() as session:
            rows = (await session.scalars(select(InteractionJobRow))).all()
        return [_job(row) for row in rows]
