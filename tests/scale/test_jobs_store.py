"""Interaction jobs in the database (SQLite and a real PostgreSQL): group commit, and a
lost job claimed by exactly one of the processes looking for it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.storage import Database
from bot.storage.jobs import Job, JobStore

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
