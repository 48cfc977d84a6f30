"""Group commit: concurrent writes share a transaction, and nobody returns before it committed."""

from __future__ import annotations

import asyncio

import pytest

from bot.storage.batching import BatchWriter

WAIT = 30.0


class GatedWrite:
    """A write function that records each batch and waits for `release` before it 'commits'."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.fail_with: Exception | None = None

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        self.started.set()
        await self.release.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return [item * 10 for item in items]


async def test_a_submit_returns_only_after_its_write_finished() -> None:
    """While the transaction has not committed, the caller is still waiting."""
    write = GatedWrite()
    writer = BatchWriter(write)
    task = asyncio.create_task(writer.submit(1))
    await asyncio.wait_for(write.started.wait(), WAIT)
    await asyncio.sleep(0)  # give a wrong implementation every chance to return early
    assert not task.done()
    write.release.set()
    assert await asyncio.wait_for(task, WAIT) == 10


async def test_writes_arriving_during_a_transaction_share_the_next_one() -> None:
    """One write runs alone; the ten that come meanwhile go together, results in order."""
    write = GatedWrite()
    writer = BatchWriter(write)
    first = asyncio.create_task(writer.submit(1))
    await asyncio.wait_for(write.started.wait(), WAIT)
    rest = [asyncio.create_task(writer.submit(i)) for i in range(2, 12)]
    await asyncio.sleep(0)
    write.release.set()
    assert await asyncio.wait_for(first, WAIT) == 10
    assert await asyncio.wait_for(asyncio.gather(*rest), WAIT) == [i * 10 for i in range(2, 12)]
    assert write.batches == [[1], list(range(2, 12))]
    assert (writer.batches, writer.items) == (2, 11)


async def test_batches_are_capped() -> None:
    """More waiting writes than max_batch are split over several transactions."""
    write = GatedWrite()
    write.release.set()
    writer = BatchWriter(write, max_batch=4)
    results = await asyncio.wait_for(asyncio.gather(*(writer.submit(i) for i in range(10))), WAIT)
    assert results == [i * 10 for i in range(10)]
    assert [len(b) for b in write.batches] == [4, 4, 2]


async def test_a_failed_transaction_fails_every_write_in_it_and_not_later_ones() -> None:
    """Each caller of the failed batch gets the error; the next submit is written."""
    write = GatedWrite()
    write.fail_with = RuntimeError("disk full")
    writer = BatchWriter(write)
    first = asyncio.create_task(writer.submit(1))
    await asyncio.wait_for(write.started.wait(), WAIT)
    together = [asyncio.create_task(writer.submit(i)) for i in (2, 3)]
    await asyncio.sleep(0)
    write.release.set()
    for task in (first, *together):
        with pytest.raises(RuntimeError, match="disk full"):
            await asyncio.wait_for(task, WAIT)
    write.fail_with = None
    assert await asyncio.wait_for(writer.submit(4), WAIT) == 40


async def test_a_caller_cancelled_before_its_turn_is_left_out() -> None:
    """A write whose caller gave up before its transaction began is not written."""
    write = GatedWrite()
    writer = BatchWriter(write)
    first = asyncio.create_task(writer.submit(1))
    await asyncio.wait_for(write.started.wait(), WAIT)
    gone = asyncio.create_task(writer.submit(2))
    kept = asyncio.create_task(writer.submit(3))
    await asyncio.sleep(0)
    gone.cancel()
    write.release.set()
    assert await asyncio.wait_for(kept, WAIT) == 30
    assert await first == 10
    assert write.batches == [[1], [3]]


async def test_close_waits_for_what_was_submitted() -> None:
    """close() returns once the writes in progress and queued are done."""
    write = GatedWrite()
    writer = BatchWriter(write)
    tasks = [asyncio.create_task(writer.submit(i)) for i in range(3)]
    await asyncio.wait_for(write.started.wait(), WAIT)
    closing = asyncio.create_task(writer.close())
    await asyncio.sleep(0)
    assert not closing.done()
    write.release.set()
    await asyncio.wait_for(closing, WAIT)
    assert all(task.done() for task in tasks)
