"""Interactions being answered, kept until answered, so none is lost with its process.

When a process starts working on an interaction that takes a while (a
generation), it adds a row: the interaction as Discord sent it (its token
lets any process edit the answer for 15 minutes) and what the handler needs
to run it again. The owner refreshes `heartbeat_at` while it works and deletes
the row once the member has an answer. A row whose heartbeat stopped (the
process was killed) is claimed by another process — or the same one restarted
— with one `UPDATE … WHERE heartbeat_at < …`, so exactly one of them runs it
again. Rows past Discord's 15 minutes can no longer be answered and are dropped.

A job answered with a stored generation is marked with its id in the
generation's own transaction (`MARK_ANSWERED`, bot/storage/generations.py).
From then on whoever takes the job over sends that answer again instead of
generating another, so the row's removal need not be written at once: it
rides the next write (an add, or the heartbeat's flush within seconds).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    String,
    Table,
    bindparam,
    delete,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.database import Database
from bot.storage.models import Base, JSONValue, UTCDateTime, utcnow
from bot.storage.prepared import Prepared

OWNER_LENGTH = 64
# A write that adds one job runs on the event loop while it names at most this many
# job ids (the add and the removals riding along, a DELETE by key each; bench/README.md, 24).
SMALL_WRITE_IDS = 8
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
    # The stored generation that answers it, once committed: a process taking the job
    # over sends that answer again rather than generating a new one.
    generation_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
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
    generation_id: int | None = None


def _row(job: Job, owner: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": job.id,
        "kind": job.kind[:32],
        "interaction": job.interaction,
        "args": job.args,
        "owner": owner,
        "heartbeat_at": now,
        "expires_at": job.expires_at,
        "attempts": job.attempts,
        "generation_id": job.generation_id,
        "created_at": now,
    }


# Prepared once (see bot.storage.prepared): each interaction writes an add and a removal.
_TABLE = cast(Table, InteractionJobRow.__table__)
_DELETE = Prepared(_TABLE.delete().where(_TABLE.c.id == bindparam("id")), ["id"])
_INSERT = Prepared(_TABLE.insert(), [column.name for column in _TABLE.c])
# Run in a generation's transaction, once per job it answers (see the module doc).
MARK_ANSWERED = Prepared(
    _TABLE.update()
    .where(_TABLE.c.id == bindparam("job_id"))
    .values(generation_id=bindparam("generation_id")),
    ["generation_id", "job_id"],
)


def _apply(gone: set[int], rows: list[dict[str, Any]], conn: Connection) -> None:
    """Delete the jobs `gone`, then insert `rows` (an add replaces a stored job)."""
    _DELETE.execute(conn, [{"id": job_id} for job_id in gone])
    _INSERT.execute(conn, rows)


def _job(row: InteractionJobRow) -> Job:
    return Job(
        row.id,
        row.kind,
        dict(row.interaction),
        dict(row.args),
        row.expires_at,
        row.attempts,
        row.generation_id,
    )


class JobStore:
    """Adds, refreshes, claims and removes interaction jobs.

    Adds and removals are written with group commit: those made while a write
    is under way share the next transaction, and a job removed before its add
    was written is never written at all — under load most short interactions
    cost no database write, and the rest share one. The removal of a job whose
    answer is stored (`answered`) waits for the next write.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._adds: dict[int, tuple[Job, str]] = {}  # not yet taken by a write
        self._removals: set[int] = set()
        self._answered: set[int] = set()  # marked with their stored answer (committed)
        self._waiters: list[asyncio.Future[None]] = []
        self._writer: asyncio.Task[None] | None = None
        self.writes = 0  # transactions written (for tests and benchmarks)

    async def add(self, job: Job, owner: str) -> None:
        """Start a job owned by `owner` (a job already there, say after a retry, is
        replaced); returns once it is written."""
        await self.add_soon(job, owner)

    def add_soon(self, job: Job, owner: str) -> asyncio.Future[None]:
        """`add`, taken at once: a `finish` from now on cancels it if it is not written
        yet. The future is done once written (or cancelled that way)."""
        self._removals.discard(job.id)
        self._answered.discard(job.id)  # the new row is not marked (unless `job` is)
        self._adds[job.id] = (job, owner[:OWNER_LENGTH])
        return self._written()

    async def finish(self, job_id: int) -> None:
        """The member has an answer: forget the job."""
        if self._adds.pop(job_id, None) is not None:
            return  # its add was never written: nothing to remove
        self._removals.add(job_id)
        if job_id in self._answered:
            # Taken over before the removal is written, it sends the same answer
            # again: the removal can ride the next write.
            self._answered.discard(job_id)
            return
        await self._written()

    def answered(self, job_id: int) -> None:
        """The job's row is marked with its stored answer, committed (MARK_ANSWERED)."""
        self._answered.add(job_id)

    @property
    def removals_waiting(self) -> int:
        """Removals not written yet (answered jobs wait for the next write)."""
        return len(self._removals)

    async def flush(self) -> None:
        """Write the removals still waiting for a write (see `finish`)."""
        if self._removals:
            await self._written()

    def _written(self) -> asyncio.Future[None]:
        """A future done when the next write (with what is pending now) is committed."""
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="couplet-job-writer")
        return future

    async def _write(self) -> None:
        while self._waiters:
            adds, removals, waiters = self._adds, self._removals, self._waiters
            self._adds, self._removals, self._waiters = {}, set(), []
            if not adds and not removals:
                # Everything pending cancelled out (answered before written).
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
                continue
            rows = [_row(job, owner) for job, owner in adds.values()]
            try:
                # Core through run_write, not an ORM session: every interaction
                # that outlives a write costs an add and a removal.
                gone = removals | set(adds)
                # One add with a few removals that rode along (a DELETE by key each)
                # is a small write, cheaper inline; a group commit is not.
                bulk = len(rows) > 1 or len(gone) > SMALL_WRITE_IDS
                await self.db.run_write(partial(_apply, gone, rows), bulk=bulk)
                self.writes += 1
            except Exception as err:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(err)
            else:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)

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
