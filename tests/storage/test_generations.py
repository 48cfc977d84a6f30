"""Stored generations written together, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from bot.storage import Database
from bot.storage.generations import GenerationRecord, GenerationStore


def record(i: int) -> GenerationRecord:
    return GenerationRecord(
        user_id=1000 + i,
        guild_id=2**62 + i,  # 64-bit Discord ids
        channel_id=7,
        private=i % 2 == 0,
        request={"prompt": f"prompt {i}", "max_tokens": i},
        result={"choices": [{"index": 0, "text": f"text {i} ✓\n"}]},
        display={"clean_mode": "seed" if i % 3 else "preserve"},
    )


async def test_concurrent_adds_share_transactions_and_each_id_is_its_own_row(
    db: Database,
) -> None:
    """Fifty adds at once: fewer transactions than adds, and every id reads back its record."""
    store = GenerationStore(db)
    records = [record(i) for i in range(50)]
    ids = await asyncio.gather(*(store.add(r) for r in records))
    assert len(set(ids)) == 50
    assert store.writer.items == 50 and store.writer.batches < 50
    for i, (gid, sent) in enumerate(zip(ids, records, strict=True)):
        assert sent.id == gid and sent.created_at is not None
        loaded = await store.get(gid)
        assert loaded is not None
        assert (loaded.user_id, loaded.guild_id) == (1000 + i, 2**62 + i)
        assert loaded.private is (i % 2 == 0)
        assert loaded.request == {"prompt": f"prompt {i}", "max_tokens": i}
        assert loaded.result["choices"][0]["text"] == f"text {i} ✓\n"
        assert loaded.display == sent.display
        assert loaded.created_at == sent.created_at


async def test_an_add_alone_is_written_at_once(db: Database) -> None:
    """With nothing else waiting, one add is one transaction of one row."""
    store = GenerationStore(db)
    gid = await store.add(record(1))
    assert (store.writer.batches, store.writer.items) == (1, 1)
    assert (await store.get(gid)) is not None
