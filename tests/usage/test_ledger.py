"""The ledger writer: buffered, written in batches, nothing lost on a failed write or a
clean stop — on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.storage import Database
from bot.storage.usage import LedgerStore
from bot.usage import LedgerEntry, LedgerWriter

AT = datetime(2027, 3, 15, 23, 59, 59, tzinfo=UTC).timestamp()


def entry(
    user: int = 1, guild: int | None = 7, prompt: int = 3, completion: int = 4
) -> LedgerEntry:
    return LedgerEntry(
        at=AT,
        guild_id=guild,
        channel_id=8,
        user_id=user,
        user_name=f"user{user}",
        command="complete",
        backend="llama-cpp-python",
        model="gemma-3-270m",
        prompt_tokens=prompt,
        completion_tokens=completion,
        tokens_counted=True,
        n=2,
        best_of=3,
        requests=3,
        outcome="ok",
        latency_ms=120,
        wait_ms=5,
    )


async def test_entries_wait_for_the_flush_then_are_written_whole(db: Database) -> None:
    """record() writes nothing; flush() writes every field, the UTC day included."""
    store = LedgerStore(db)
    writer = LedgerWriter(store)
    for user in range(1, 1201):  # more than one batch
        writer.record(entry(user))
    assert writer.pending == 1200
    assert (await store.totals(7, date(2027, 3, 15))).requests == 0
    assert await writer.flush() == 1200
    assert writer.pending == 0
    total = await store.totals(7, date(2027, 3, 15))
    assert (total.requests, total.prompt_tokens, total.completion_tokens) == (1200, 3600, 4800)
    [day] = await store.by_day(7, date(2027, 3, 1))
    assert day[0] == date(2027, 3, 15)
    rows = await store.member_days(7, date(2027, 3, 1))
    assert (rows[0].user_id, rows[0].user_name) == (1, "user1")


async def test_a_failed_write_keeps_the_entries(tmp_path: Path) -> None:
    """When the database refuses the batch, the entries stay and the next flush writes them."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'late.db'}")
    try:
        writer = LedgerWriter(LedgerStore(db))
        writer.record(entry())
        writer.record(entry(2))
        with pytest.raises(Exception, match="usage_ledger"):
            await writer.flush()  # no tables yet
        assert writer.pending == 2
        await db.upgrade()
        assert await writer.flush() == 2
        assert (await LedgerStore(db).totals(7, date(2027, 3, 15))).requests == 2
    finally:
        await db.dispose()


async def test_direct_messages_are_kept_apart(db: Database) -> None:
    """Rows without a server are summed only as direct messages, never into a server."""
    store = LedgerStore(db)
    writer = LedgerWriter(store)
    writer.record(entry(guild=None))
    writer.record(entry())
    await writer.flush()
    assert (await store.totals(None, date(2027, 3, 1))).requests == 1
    assert (await store.totals(7, date(2027, 3, 1))).requests == 1
    assert await store.server_tokens(date(2027, 3, 1), date(2027, 3, 31)) == [(7, 7)]
