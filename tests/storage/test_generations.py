"""Stored generations written together and kept in memory while fresh, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.storage import Database
from bot.storage.generations import GenerationRecord, GenerationStore, RecentGenerations
from bot.storage.models import utcnow
from tests.storage.statements import count_statements


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


async def test_a_fresh_generation_is_read_without_a_round_trip(db: Database) -> None:
    """Reading back what was just written sends no SQL; a new store reads the row, then not."""
    store = GenerationStore(db)
    gid = await store.add(record(3))
    with count_statements(db) as sent:
        first = await store.get(gid)
    assert sent == []
    assert first is not None and first.request == {"prompt": "prompt 3", "max_tokens": 3}
    first.request["prompt"] = "changed by a caller"  # must not reach the next reader

    other = GenerationStore(db)  # another process, or after a restart
    with count_statements(db) as sent:
        loaded = await other.get(gid)
        again = await other.get(gid)
    assert len([s for s in sent if s.lstrip().upper().startswith("SELECT")]) == 1
    assert loaded is not None and again is not None
    assert loaded.request == again.request == {"prompt": "prompt 3", "max_tokens": 3}
    assert (await store.get(gid)).request["prompt"] == "prompt 3"  # type: ignore[union-attr]


async def test_pruning_forgets_what_it_deletes(db: Database) -> None:
    """After prune, a pruned generation is gone from memory as from the database."""
    store = GenerationStore(db)
    gid = await store.add(record(4))
    assert await store.prune(timedelta(0)) == 1
    assert await store.get(gid) is None


def recent_record(gid: int, text: str = "x", age: timedelta = timedelta(0)) -> GenerationRecord:
    return GenerationRecord(
        user_id=1,
        request={"prompt": "p"},
        result={"choices": [{"index": 0, "text": text}]},
        id=gid,
        created_at=utcnow() - age,
    )


def test_recent_generations_are_bounded_in_count_size_and_age() -> None:
    """The least recently used go first past the count or the size; old ones are not served."""
    recent = RecentGenerations(count=3, size=80_000, age=timedelta(hours=1))
    for gid in range(1, 5):
        recent.put(recent_record(gid))
    assert len(recent) == 3 and recent.get(1) is None  # the oldest went
    assert recent.get(2) is not None  # now the most recently used
    recent.put(recent_record(5))
    assert recent.get(3) is None and recent.get(2) is not None

    big = RecentGenerations(count=100, size=80_000)
    for gid in range(1, 11):
        big.put(recent_record(gid, text="y" * 3_000))  # about 8 KB each by the estimate
    assert 0 < big.bytes <= 80_000 and len(big) < 10
    assert big.get(10) is not None and big.get(1) is None
    big.put(recent_record(99, text="z" * 50_000))  # more than an eighth of the budget
    assert big.get(99) is None

    aged = RecentGenerations(age=timedelta(hours=1))
    aged.put(recent_record(1, age=timedelta(hours=2)))
    assert aged.get(1) is None and len(aged) == 0
