"""bot.background: a stopped loop finishes the pass under way and starts no other;
an idle one stops at once; a pass that outlasts the grace is cancelled."""

from __future__ import annotations

import asyncio

from discord.ext import tasks

from bot.background import Iteration, stop_loop

# Bounds a wait that would otherwise hang the test; never a timing assertion.
HANG = 30


class Worker:
    """A loop whose every pass records its start and end and waits for `release`."""

    def __init__(self, seconds: float) -> None:
        self.iteration = Iteration()
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.ended = asyncio.Event()
        self.events: list[str] = []
        self.loop = tasks.loop(seconds=seconds)(self.body)

    async def body(self) -> None:
        with self.iteration:
            self.events.append("start")
            self.started.set()
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.events.append("cancelled")
                raise
            self.events.append("end")
        self.ended.set()


async def test_a_pass_under_way_finishes_and_no_other_starts() -> None:
    worker = Worker(seconds=0)  # without the stop, passes would follow each other at once
    worker.loop.start()
    await asyncio.wait_for(worker.started.wait(), HANG)
    stopping = asyncio.create_task(stop_loop(worker.loop, worker.iteration))
    await asyncio.sleep(0.05)
    assert not stopping.done()  # it waits for the pass, which has not ended
    worker.release.set()
    await asyncio.wait_for(stopping, HANG)
    assert worker.events == ["start", "end"]
    assert not worker.loop.is_running()


async def test_an_idle_loop_is_cancelled_at_once() -> None:
    worker = Worker(seconds=3600)
    worker.release.set()  # the first pass ends; then the loop sleeps an hour
    worker.loop.start()
    await asyncio.wait_for(worker.ended.wait(), HANG)
    await asyncio.wait_for(stop_loop(worker.loop, worker.iteration), HANG)
    assert worker.events == ["start", "end"]
    task = worker.loop.get_task()
    assert task is not None and task.cancelled()


async def test_a_pass_longer_than_the_grace_is_cancelled() -> None:
    worker = Worker(seconds=0)
    worker.loop.start()
    await asyncio.wait_for(worker.started.wait(), HANG)
    await asyncio.wait_for(stop_loop(worker.loop, worker.iteration, grace=0.05), HANG)
    assert worker.events == ["start", "cancelled"]
    assert not worker.loop.is_running()
