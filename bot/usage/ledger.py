"""Recording usage without slowing the reply: entries are buffered and written in batches.

`LedgerWriter.record()` only appends to a list; `flush()` writes what has
gathered in one transaction. The bot flushes every second and once more when
it closes, so a clean stop loses nothing. A failed write keeps its entries for
the next flush (and logs why), so a database hiccup loses nothing either.

With several processes (`REDIS_URL`) the buffer is a Redis stream, the
`LedgerSpool`: `add()` appends each entry to it at once, so a process killed
with kill -9 loses none, and one process (the holder of the `ledger-flush`
lease) moves the stream into the database. Any process may flush too (`/usage`
does before it reads): an entry carries its own id, the ledger keeps one row
per id, and a batch is removed from the stream by id only once written, so
flushing twice or concurrently writes each entry once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

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
        values = asdict(self)
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

    def __init__(self, store: LedgerStore, spool: LedgerSpool | None = None) -> None:
        self.store = store
        self.spool = spool
        self._pending: list[LedgerEntry] = []
        # Held while a flush writes; hold it to stop the flushing without cutting one off.
        self.lock = asyncio.Lock()
        self.written = 0

    @property
    def pending(self) -> int:
        """Entries held in this process (with a spool: those Redis could not take yet)."""
        return len(self._pending)

    def record(self, entry: LedgerEntry) -> None:
        """Queue one entry for the next flush (never waits)."""
        self._pending.append(entry)

    async def add(self, entry: LedgerEntry) -> None:
        """Queue one entry: into the shared spool at once when there is one (so a process
        that dies keeps nothing unwritten), else as `record`."""
        if self.spool is not None:
            try:
                await self.spool.push([entry])
                return
            except RedisError as err:
                log.warning("could not spool a ledger entry (%s); keeping it here", err)
        self._pending.append(entry)

    async def flush(self) -> int:
        """Write every pending entry; returns how many were written.

        On a database error the entries stay pending (here or in the spool)
        and the error is raised (the flush loop logs it and tries again).
        """
        async with self.lock:
            count = 0
            if self.spool is not None and self._pending:
                try:
                    await self.spool.push(self._pending)
                    self._pending.clear()
                except RedisError as err:
                    log.warning("the ledger spool is unreachable (%s); writing directly", err)
            while self._pending:
                batch = self._pending[:BATCH_SIZE]
                await self.store.add_many(entry.row() for entry in batch)
                # Only now are they safe: drop exactly the entries written.
                del self._pending[: len(batch)]
                count += len(batch)
            if self.spool is not None:
                try:
                    count += await self._drain()
                except RedisError as err:
                    # Still in the spool: the next flush (here or elsewhere) writes them.
                    log.warning("could not read the ledger spool (%s); will try again", err)
            self.written += count
            return count

    async def _drain(self) -> int:
        """Move the spool into the database, batch by batch."""
        assert self.spool is not None
        count = 0
        while True:
            batch = await self.spool.peek(BATCH_SIZE)
            if not batch:
                return count
            await self.store.add_many(entry.row() for _, entry in batch)
            # Written (or already there): now they may leave the spool.
            await self.spool.remove([stream_id for stream_id, _ in batch])
            count += len(batch)
