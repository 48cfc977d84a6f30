"""The fair queue to a backend: round robin across servers then members, positions,
a full queue, requests dropped at their deadline, cancelled waiters."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.usage import FairQueue, QueueExpired, QueueFull
from bot.usage.queue import SERVED_KEPT
from tests.support.discord_env import wait_until


async def hold_slot(
    queue: FairQueue, release: asyncio.Event, guild: int = 0, user: int = 0
) -> None:
    async with queue.slot(guild, user):
        await release.wait()


async def take_turn(
    queue: FairQueue, guild: int, user: int, positions: list[int] | None = None
) -> None:
    async def report(position: int) -> None:
        if positions is not None:
            positions.append(position)

    async with queue.slot(guild, user, on_position=report):
        pass


async def test_round_robin_across_servers_then_members() -> None:
    """A busy server's six requests and a quiet one's two: served alternately, and
    within the busy server its two members alternate."""
    queue = FairQueue(1, 100, report_interval=0)
    release = asyncio.Event()
    holder = asyncio.create_task(hold_slot(queue, release))
    await wait_until(lambda: queue.running == 1, "the first request to run")
    arrivals = [(1, 11), (1, 11), (1, 11), (1, 12), (1, 12), (1, 12), (2, 21), (2, 21)]
    tasks = []
    for count, (guild, user) in enumerate(arrivals, start=1):
        tasks.append(asyncio.create_task(take_turn(queue, guild, user)))
        await wait_until(lambda n=count: queue.waiting == n, "the request to queue")
    assert queue.order() == [
        (1, 11), (2, 21), (1, 12), (2, 21), (1, 11), (1, 12), (1, 11), (1, 12),
    ]  # fmt: skip
    release.set()
    await asyncio.gather(holder, *tasks)
    assert list(queue.served)[1:] == [
        (1, 11), (2, 21), (1, 12), (2, 21), (1, 11), (1, 12), (1, 11), (1, 12),
    ]  # fmt: skip


async def test_the_turns_remembered_are_bounded() -> None:
    """The queue remembers the order of its last SERVED_KEPT turns, not every turn ever
    served (one tuple a request, for the life of the process)."""
    queue = FairQueue(0, 100)
    for n in range(SERVED_KEPT + 50):
        await take_turn(queue, 1, n)
    assert list(queue.served) == [(1, n) for n in range(50, SERVED_KEPT + 50)]


async def test_positions_are_reported_as_the_queue_moves() -> None:
    """Each waiter hears how many are ahead, and hears it again as they go."""
    queue = FairQueue(1, 100, report_interval=0)
    release = asyncio.Event()
    holder = asyncio.create_task(hold_slot(queue, release))
    await wait_until(lambda: queue.running == 1, "the first request to run")
    heard: list[list[int]] = [[], [], []]
    done = [asyncio.Event() for _ in range(3)]

    async def wait_then_hold(i: int) -> None:
        async def report(position: int) -> None:
            heard[i].append(position)

        async with queue.slot(100 + i, 1, on_position=report):
            await done[i].wait()

    tasks = []
    for i in range(3):
        tasks.append(asyncio.create_task(wait_then_hold(i)))
        await wait_until(lambda i=i: heard[i] == [i], f"waiter {i} to hear its position")
    release.set()
    await wait_until(lambda: heard[1] == [1, 0] and heard[2] == [2, 1], "everyone to move up")
    done[0].set()
    await wait_until(lambda: heard[2] == [2, 1, 0], "the last one to be next")
    done[1].set()
    done[2].set()
    await asyncio.gather(holder, *tasks)
    assert heard == [[0], [1, 0], [2, 1, 0]]


async def test_a_full_queue_refuses_at_once() -> None:
    """With max_waiting requests already waiting, one more is refused with a sentence."""
    queue = FairQueue(1, 2)
    release = asyncio.Event()
    holder = asyncio.create_task(hold_slot(queue, release))
    await wait_until(lambda: queue.running == 1, "the first request to run")
    waiters = [asyncio.create_task(take_turn(queue, 1, i)) for i in (1, 2)]
    await wait_until(lambda: queue.waiting == 2, "two waiters")
    with pytest.raises(QueueFull) as refused:
        async with queue.slot(1, 3):
            pass
    assert "2 requests are already waiting" in refused.value.message
    release.set()
    await asyncio.gather(holder, *waiters)


async def test_a_request_past_its_deadline_is_dropped() -> None:
    """A waiter whose deadline passes leaves the queue with QueueExpired; the others move up."""
    queue = FairQueue(1, 10, clock=time.time)
    release = asyncio.Event()
    holder = asyncio.create_task(hold_slot(queue, release))
    await wait_until(lambda: queue.running == 1, "the first request to run")
    with pytest.raises(QueueExpired):
        async with queue.slot(5, 5, deadline=time.time() + 0.05):
            pass
    assert queue.waiting == 0
    release.set()
    await holder
    assert queue.running == 0


async def test_a_cancelled_waiter_leaves_and_a_cancelled_turn_frees_its_slot() -> None:
    """Cancelling a waiting task removes it; cancelling a running one frees the slot."""
    queue = FairQueue(1, 10)
    release = asyncio.Event()
    holder = asyncio.create_task(hold_slot(queue, release))
    await wait_until(lambda: queue.running == 1, "the first request to run")
    waiter = asyncio.create_task(take_turn(queue, 1, 1))
    await wait_until(lambda: queue.waiting == 1, "the waiter")
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert queue.waiting == 0
    holder.cancel()
    await asyncio.gather(holder, return_exceptions=True)
    assert queue.running == 0
    await take_turn(queue, 2, 2)  # the slot is free again


async def test_concurrency_lets_that_many_run_at_once() -> None:
    """concurrency 2: two run together, the third waits; 0 means no limit at all."""
    queue = FairQueue(2, 10)
    release = asyncio.Event()
    running = [asyncio.create_task(hold_slot(queue, release, g, g)) for g in (1, 2, 3)]
    await wait_until(lambda: queue.running == 2 and queue.waiting == 1, "two running, one waiting")
    release.set()
    await asyncio.gather(*running)
    unlimited = FairQueue(0, 1)
    release.clear()
    many = [asyncio.create_task(hold_slot(unlimited, release, g, g)) for g in range(5)]
    await wait_until(lambda: unlimited.running == 5, "five running without a limit")
    release.set()
    await asyncio.gather(*many)
