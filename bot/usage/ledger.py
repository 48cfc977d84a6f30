"""Recording usage without slowing the reply: entries are buffered and written in batches.

`LedgerWriter.record()` only appends to a list; `flush()` writes what has
gathered in one transaction. The bot flushes every second and once more when
it closes, so a clean stop loses nothing. A failed write keeps its entries for
the next flush (and logs why), so a database hiccup loses nothing either.

With several processes (`REDIS_URL`) each entry also goes, as it is
recorded, to a Redis stream every process shares, the `LedgerSpool`, so a
process killed with kill -9 loses none: one process at a time (the holder of
the `ledger-flush` lease) writes the stream to the database (`drain`). An
entry carries its own id and the ledger keeps one row per id, so writing an
entry twice is harmless. Each process keeps its own entries too, until it
sees them in the database (`confirm`, a read); ones still missing after
`CONFIRM_AFTER` seconds (Redis lost its data, or the spool could not be
reached) it writes itself. `flush()` — on close, or before `/usage` reads —
writes this process's entries and drains the spool at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.storage.usage import MODEL_LENGTH, NAME_LENGTH, LedgerStore

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

# Seconds between flushes (the bot's flush loop uses this).
FLUSH_INTERVAL = 1.0
# Entries written per transaction at most.
BATCH_SIZE = 500
# The Redis stream holding entries not yet in the database.
SPOOL_KEY = "couplet:usage:ledger"
# Seconds after which a process writes its own entries still missing from the database.
CONFIRM_AFTER = 5.0


@dataclass(frozen=True)
class LedgerEntry:
    """One generation sent to the backend, as the ledger keeps it."""

    at: float  # when it was admitted, seconds since the epoch
    guild_id: int | None
    channel_id: int | None
    user_id: int
    user_name: str
    command: str
    backend: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    tokens_counted: bool
    n: int
    best_of: int | None
    requests: int
    outcome: str  # "ok", "error" or "cancelled"
    latency_ms: int
    wait_ms: int = 0
    story_id: int | None = None
    entry_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def row(self) -> dict[str, object]:
        """The ledger row's columns."""
        # Every field is a plain value: no need for asdict's deep copy.
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        at = datetime.fromtimestamp(values.pop("at"), UTC)
        values["created_at"] = at
        values["day"] = at.date()
        values["model"] = self.model[:MODEL_LENGTH]
        values["user_name"] = self.user_name[:NAME_LENGTH]
        return values

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> LedgerEntry:
        return cls(**json.loads(text))


class LedgerSpool:
    """Entries waiting for the database, in a Redis stream every process shares."""

    def __init__(self, redis: Redis, key: str = SPOOL_KEY) -> None:
        self.redis = redis
        self.key = key

    async def push(self, entries: list[LedgerEntry]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry in entries:
                pipe.xadd(self.key, {"e": entry.to_json()})
            await pipe.execute()

    async def peek(self, count: int) -> list[tuple[Any, LedgerEntry]]:
        """The oldest `count` entries with their stream ids (left in the stream)."""
        found = []
        items: Any = await self.redis.xrange(self.key, count=count)
        for stream_id, fields in items or []:
            raw: Any = (fields or {}).get(b"e") or (fields or {}).get("e")
            try:
                found.append((stream_id, LedgerEntry.from_json(raw)))
            except (TypeError, ValueError):
                log.error("dropping an unreadable ledger entry from the spool: %r", raw)
                await self.redis.xdel(self.key, stream_id)
        return found

    async def remove(self, stream_ids: list[Any]) -> None:
        if stream_ids:
            await self.redis.xdel(self.key, *stream_ids)

    async def size(self) -> int:
        return int(await self.redis.xlen(self.key))


class LedgerWriter:
    """Buffers entries; `flush()` writes them. Safe to flush from several tasks."""

    def __init__(
        self, store: LedgerStore, spool: LedgerSpool | None = None, *, clock: Any = time.monotonic
    ) -> None:
        self.store = store
        self.spool = spool
        self.clock = clock
        # This process's entries not yet seen in the database, with when they were recorded.
        self._pending: list[tuple[LedgerEntry, float]] = []
        # Held while a flush writes; hold it to stop the flushing without cutting one off.
        self.lock = asyncio.Lock()
        self.written = 0

    @property
    def pending(self) -> int:
        """This process's entries not yet known to be in the database."""
        return len(self._pending)

    def record(self, entry: LedgerEntry) -> None:
        """Queue one entry for the next flush (never waits)."""
        self._pending.append((entry, self.clock()))

    async def add(self, entry: LedgerEntry) -> None:
        """Queue one entry, and put it in the shared spool at once when there is one (so
        it outlives this process)."""
        self.record(entry)
        if self.spool is not None:
            from redis.exceptions import RedisError  # imported only with Redis

            try:
                await self.spool.push([entry])
            except RedisError as err:
                log.warning("could not spool a ledger entry (%s); keeping it here", err)

    async def flush(self) -> int:
        """Write this process's entries and (with a spool) everything spooled; returns how
        many rows were written.

        On a database error the entries stay pending (here or in the spool)
        and the error is raised (the flush loop logs it and tries again).
        """
        async with self.lock:
            count = await self._write_own(len(self._pending))
            if self.spool is not None:
                count += await self._drain()
            self.written += count
            return count

    async def drain(self) -> int:
        """Write everything spooled by any process (the lease holder's round)."""
        if self.spool is None:
            return await self.flush()
        async with self.lock:
            count = await self._drain()
            self.written += count
            return count

    async def confirm(self) -> int:
        """Forget this process's entries the database has; write those still missing
        after CONFIRM_AFTER seconds. Returns how many it wrote."""
        async with self.lock:
            due = self.clock() - CONFIRM_AFTER
            old = [entry.entry_id for entry, at in self._pending if at <= due]
            if not old:
                return 0
            present = await self.store.existing(old)
            self._pending = [(e, at) for e, at in self._pending if e.entry_id not in present]
            late = sum(1 for _, at in self._pending if at <= due)
            if late:
                log.warning("%d ledger entries were not in the spool; writing them here", late)
            count = await self._write_own(late)
            self.written += count
            return count

    async def _write_own(self, count: int) -> int:
        """Write the first `count` of this process's entries."""
        written = 0
        while written < count and self._pending:
            batch = self._pending[: min(BATCH_SIZE, count - written)]
            await self.store.add_many(entry.row() for entry, _ in batch)
            # Only now are they safe: drop exactly the entries written.
            del self._pending[: len(batch)]
            written += len(batch)
        return written

    async def _drain(self) -> int:
        """Move the spool into the database, batch by batch (an unreachable spool is
        logged: the entries are still there, or still here)."""
        from redis.exceptions import RedisError

        assert self.spool is not None
        count = 0
        try:
            while True:
                batch = await self.spool.peek(BATCH_SIZE)
                if not batch:
                    return count
                await self.store.add_many(entry.row() for _, entry in batch)
                # Written (or already there): now they may leave the spool.
                await self.spool.remove([stream_id for stream_id, _ in batch])
                count += len(batch)
        except RedisError as err:
            log.warning("could not read the ledger spool (%s); will try again", err)
            return count
