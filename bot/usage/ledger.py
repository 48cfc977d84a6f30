"""Recording usage without slowing the reply: entries are buffered and written in batches.

`LedgerWriter.record()` only appends to a list; `flush()` writes what has
gathered in one transaction. The bot flushes every second and once more when
it closes, so a clean stop loses nothing. A failed write keeps its entries for
the next flush (and logs why), so a database hiccup loses nothing either.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from bot.storage.usage import MODEL_LENGTH, NAME_LENGTH, LedgerStore

log = logging.getLogger(__name__)

# Seconds between flushes (the bot's flush loop uses this).
FLUSH_INTERVAL = 1.0
# Entries written per transaction at most.
BATCH_SIZE = 500


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

    def row(self) -> dict[str, object]:
        """The ledger row's columns."""
        values = asdict(self)
        at = datetime.fromtimestamp(values.pop("at"), UTC)
        values["created_at"] = at
        values["day"] = at.date()
        values["model"] = self.model[:MODEL_LENGTH]
        values["user_name"] = self.user_name[:NAME_LENGTH]
        return values


class LedgerWriter:
    """Buffers entries; `flush()` writes them. Safe to flush from several tasks."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self._pending: list[LedgerEntry] = []
        # Held while a flush writes; hold it to stop the flushing without cutting one off.
        self.lock = asyncio.Lock()
        self.written = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def record(self, entry: LedgerEntry) -> None:
        """Queue one entry for the next flush (never waits)."""
        self._pending.append(entry)

    async def flush(self) -> int:
        """Write every pending entry; returns how many were written.

        On a database error the entries stay pending and the error is raised
        (the flush loop logs it and tries again).
        """
        async with self.lock:
            count = 0
            while self._pending:
                batch = self._pending[:BATCH_SIZE]
                await self.store.add_many(entry.row() for entry in batch)
                # Only now are they safe: drop exactly the entries written.
                del self._pending[: len(batch)]
                count += len(batch)
            self.written += count
            return count
