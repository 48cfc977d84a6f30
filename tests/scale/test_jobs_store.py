"""Interaction jobs in the database (SQLite and a real PostgreSQL): group commit, a
lost job claimed by exactly one of the processes looking for it, and a job marked with
the generation that answers it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.storage import Database
from bot.storage.generations import GenerationRecord, GenerationStore
from bot.storage.jobs import SMALL_WRITE_IDS, Job, JobStore
from tests.support.migrated import migrated_sqlite

LATER = datetime.now(UTC) + timedelta(minutes=15)


def job(job_id: int) -> Job:
    return Job(job_id, "complete", {"id": str(job_id), "token": "t"}, {"prompt": "p"}, LATER)


async def test_adds_made_together_share_one_write(db: Database) -> None:
    """Twenty jobs added at once are written in far fewer transactions; a job finished
    before its add was written is never written."""
    store = JobStore(db)
    await asyncio.gather(*(store.add(job(i), "p1") for i in range(20)))
    assert store.writes <= 3
    assert sorted(j.id for j in await store.pending()) == list(range(20))
    writes = store.writes
    adding = store.add_soon(job(99), "p1")
    await store.finish(99)  # before the add's write started
    await adding
    assert 99 not in {j.id for j in await store.pending()}
    assert store.writes == writes  # nothing was written for it
    await asyncio.gather(*(store.finish(i) for i in range(20)))
    assert await store.pending() == []
    assert store.writes - writes <= 3


async def test_a_lost_job_is_claimed_by_exactly_one_process(db: Database) -> None:
    """Five processes look for lost jobs at once: each lost job goes to one of them, with
    its attempts counted; a job whose owner still beats is left alone."""
    store = JobStore(db)
    for i in range(4):
        await store.add(job(i), "dead")
    await store.abandon("dead")
    await store.add(job(10), "alive")
    stale = datetime.now(UTC) - timedelta(seconds=12)
    claims = await asyncio.gather(*(JobStore(db).claim_stale(f"p{n}", stale) for n in range(5)))
    claimed = sorted(j.id for found in claims for j in found)
    assert claimed == [0, 1, 2, 3]
    assert all(j.attempts == 2 for found in claims for j in found)
    assert 10 in {j.id for j in await store.pending()}


async def test_a_job_answered_by_a_stored_generation_is_removed_with_the_next_write(
    db: Database,
) -> None:
    """The generation's own transaction marks its job; finishing the job then writes
    nothing, the next add carries its removal, and until then a process taking the job
    over finds which generation answers it."""
    store = JobStore(db)
    generations = GenerationStore(db, store)
    await store.add(job(1), "p1")
    gid = await generations.add(GenerationRecord(user_id=5, request={}, result={}, job_id=1))
    writes = store.writes
    await store.finish(1)
    assert store.writes == writes  # no transaction of its own
    await store.abandon("p1")
    [taken] = await JobStore(db).claim_stale("p2", datetime.now(UTC))
    assert (taken.id, taken.generation_id) == (1, gid)
    await store.add(job(2), "p1")
    assert store.writes == writes + 1
    assert [j.id for j in await store.pending()] == [2]  # 1 went with 2's add


async def test_a_lone_answered_removal_is_written_by_flush(db: Database) -> None:
    store = JobStore(db)
    await store.add(job(3), "p1")
    await GenerationStore(db, store).add(
        GenerationRecord(user_id=5, request={}, result={}, job_id=3)
    )
    await store.finish(3)
    assert [j.id for j in await store.pending()] == [3]
    await store.flush()
    assert await store.pending() == []
    writes = store.writes
    await store.flush()  # nothing waits: nothing is written
    assert store.writes == writes


async def test_a_generation_whose_job_has_no_row_leaves_the_removal_at_once(
    db: Database,
) -> None:
    """Nothing to mark (the job's add is not written): the job is removed as before, in
    a write of its own, so a process taking it over never finds it unmarked but answered."""
    store = JobStore(db)
    generations = GenerationStore(db, store)
    adding = store.add_soon(job(4), "p1")
    await generations.add(GenerationRecord(user_id=5, request={}, result={}, job_id=77))
    await adding
    [stored] = await store.pending()
    assert stored.generation_id is None
    writes = store.writes
    await store.finish(4)
    assert store.writes == writes + 1
    assert await store.pending() == []


async def test_an_add_with_removals_riding_along_stays_on_the_event_loop(
    tmp_path: Path,
) -> None:
    """On SQLite, one add carrying the answered jobs' removals is a small write, run on
    the event loop (a thread costs more: bench/README.md, 24); many removals, or several
    adds at once, go to the writer thread."""
    db = Database(f"sqlite+aiosqlite:///{migrated_sqlite(tmp_path / 'jobs.db')}")
    threads: list[int] = []
    write = db.run_write

    async def noting_the_thread(work: Callable[[Any], Any], **kwargs: Any) -> Any:
        def noted(conn: Any) -> Any:
            threads.append(threading.get_ident())
            return work(conn)

        return await write(noted, **kwargs)

    db.run_write = noting_the_thread  # type: ignore[method-assign]
    try:
        store = JobStore(db)
        generations = GenerationStore(db, store)
        for i in range(1, SMALL_WRITE_IDS + 2):
            await store.add(job(i), "p1")
            await generations.add(GenerationRecord(user_id=5, request={}, result={}, job_id=i))
            await store.finish(i)  # rides the next add
        loop = threading.get_ident()
        job_writes = threads[0::2]
        assert job_writes == [loop] * len(job_writes)
        assert store.removals_waiting == 1
        # More removals than a small write holds, beside one add: the writer thread.
        for i in range(100, 100 + SMALL_WRITE_IDS):
            await store.add(job(i), "p1")
            await generations.add(GenerationRecord(user_id=5, request={}, result={}, job_id=i))
        for i in range(100, 100 + SMALL_WRITE_IDS):
            await store.finish(i)
        threads.clear()
        await store.add(job(200), "p1")
        assert len(threads) == 1 and threads[0] != loop
        threads.clear()
        await asyncio.gather(*(store.add(job(i), "p1") for i in range(300, 305)))
        assert threads and loop not in threads  # the adds made together: a group commit
        assert sorted(j.id for j in await store.pending()) == [200, *range(300, 305)]
    finally:
        await db.dispose()
