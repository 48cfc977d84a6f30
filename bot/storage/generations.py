"""Stored generations: what a button on a completion message refers to.

Buttons carry only a generation id in their custom_id, so they keep working
across restarts; the request and result live here. Old rows are pruned, and a
button whose generation is gone says so.

Adds made at the same time share one transaction (`BatchWriter`), and each
returns only once its row is committed: the reply that shows buttons for a
generation comes after the generation is durable. The same transaction marks
the interaction job each generation answers (`GenerationRecord.job_id`, see
bot/storage/jobs.py): a process taking that job over sends this answer again.

Rows never change once written, so the generations written or read in the
last hour are also kept in memory (`RecentGenerations`: at most 10,000 and
about 4 MiB): a click on a fresh reply needs no database read. Pruning only removes
rows far older than that (30 days), and forgets them here too.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, cast

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, Table
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.batching import BatchWriter
from bot.storage.database import Database
from bot.storage.jobs import MARK_ANSWERED, JobStore
from bot.storage.models import Base, UTCDateTime, utcnow
from bot.storage.prepared import Prepared
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


# Prepared once, not the ORM: the insert is on every /complete's path (see
# Database.run_write and bot.storage.prepared).
_TABLE = cast(Table, GenerationRow.__table__)
_INSERT = Prepared(
    _TABLE.insert().returning(_TABLE.c.id, sort_by_parameter_order=True),
    [column.name for column in _TABLE.c if column.name != "id"],
)


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
    # The interaction job (its interaction's id) this generation answers; not stored here.
    job_id: int | None = None


# What RecentGenerations keeps at most: entries, bytes (estimated), age. A
# short completion takes about 2.5 KB: 4 MiB hold the last ~1,600 of them,
# minutes of replies on a busy bot (clicks come within seconds of a reply);
# a click on an older one reads it from the database.
RECENT_COUNT = 10_000
RECENT_BYTES = 4 * 2**20
RECENT_AGE = timedelta(hours=1)


def _weight(record: GenerationRecord) -> int:
    """About how many bytes a record holds in memory (measured with tracemalloc: a
    short completion 2.5 KB; then its texts, and a share per logprob entry)."""
    size = 2048 + len(str(record.request.get("prompt") or ""))
    result = record.result
    for choice in [*(result.get("choices") or ()), *(result.get("candidates") or ())]:
        size += 256 + 2 * len(str(choice.get("text") or ""))
        logprobs = choice.get("logprobs") or {}
        size += 300 * len(logprobs.get("tokens") or ())
    return size


class RecentGenerations:
    """Generations by id, the least recently used dropped first past the bounds."""

    def __init__(
        self, count: int = RECENT_COUNT, size: int = RECENT_BYTES, age: timedelta = RECENT_AGE
    ) -> None:
        self.count, self.size, self.age = count, size, age
        self._records: OrderedDict[int, tuple[GenerationRecord, int]] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._records)

    def get(self, generation_id: int) -> GenerationRecord | None:
        entry = self._records.get(generation_id)
        if entry is None:
            return None
        record = entry[0]
        if record.created_at is None or record.created_at < utcnow() - self.age:
            self.forget(generation_id)
            return None
        self._records.move_to_end(generation_id)
        return record

    def put(self, record: GenerationRecord) -> None:
        assert record.id is not None
        if record.created_at is None or record.created_at < utcnow() - self.age:
            return
        weight = _weight(record)
        if weight > self.size // 8:
            return  # one huge generation must not push out hundreds of others
        self.forget(record.id)
        self._records[record.id] = (record, weight)
        self.bytes += weight
        while len(self._records) > self.count or self.bytes > self.size:
            _, (_, dropped) = self._records.popitem(last=False)
            self.bytes -= dropped

    def forget(self, generation_id: int) -> None:
        entry = self._records.pop(generation_id, None)
        if entry is not None:
            self.bytes -= entry[1]

    def forget_older_than(self, cutoff: datetime) -> None:
        for gid, (record, _) in list(self._records.items()):
            if record.created_at is None or record.created_at < cutoff:
                self.forget(gid)


def _copy(record: GenerationRecord) -> GenerationRecord:
    """A record whose top-level dicts the caller may change without touching the cache."""
    return replace(
        record,
        request=dict(record.request),
        result=dict(record.result),
        display=dict(record.display),
    )


def _insert_marking(
    rows: list[dict[str, Any]], jobs: list[int | None], conn: Connection
) -> tuple[list[int], list[int]]:
    """Insert the rows; mark each row's job, if any, with the new id. Returns the ids
    and the jobs marked (a job whose own row is not written yet is not)."""
    ids = _INSERT.execute(conn, rows)
    marks = [
        {"generation_id": gid, "job_id": job_id}
        for job_id, gid in zip(jobs, ids, strict=True)
        if job_id is not None
    ]
    changed = MARK_ANSWERED.each(conn, marks)
    return ids, [mark["job_id"] for mark, count in zip(marks, changed, strict=True) if count]


class GenerationStore:
    """Add, fetch and prune stored generations."""

    def __init__(self, db: Database, jobs: JobStore | None = None) -> None:
        self.db = db
        # Told which jobs the committed generations answer (their removal may wait).
        self.jobs = jobs
        self.writer: BatchWriter[GenerationRecord, int] = BatchWriter(self._insert)
        self.recent = RecentGenerations()

    async def add(self, record: GenerationRecord) -> int:
        """Store `record` and return its new id, once committed."""
        gid = await self.writer.submit(record)
        self.recent.put(_copy(record))
        return gid

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
        jobs = [record.job_id for record in records]
        ids, answered = await self.db.run_write(
            partial(_insert_marking, rows, jobs), bulk=len(rows) > 1
        )
        for record, row_id in zip(records, ids, strict=True):
            record.id, record.created_at = row_id, now
        if self.jobs is not None:
            for job_id in answered:
                self.jobs.answered(job_id)
        return ids

    async def close(self) -> None:
        """Finish the writes in progress (call before the database is disposed of)."""
        await self.writer.close()
        if self.writer.items:
            log.info(
                "stored %d generations in %d transactions",
                self.writer.items,
                self.writer.batches,
            )

    async def get(self, generation_id: int) -> GenerationRecord | None:
        """The generation with this id, or None when it never existed or was pruned."""
        recent = self.recent.get(generation_id)
        if recent is not None:
            return _copy(recent)
        async with self.db.read() as session:
            row = await session.get(GenerationRow, generation_id)
            if row is None:
                return None
            record = GenerationRecord(
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
        self.recent.put(_copy(record))
        return record

    async def prune(self, older_than: timedelta) -> int:
        """Delete generations created more than `older_than` ago; returns how many."""
        count = await prune_older_than(self.db, GenerationRow, older_than, "stored generations")
        self.recent.forget_older_than(utcnow() - older_than)
        return count
