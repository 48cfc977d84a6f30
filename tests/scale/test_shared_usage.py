"""Usage shared by several processes through a real Redis: the ledger's spool (nothing
lost with a process, nothing written twice), the fair queue and its concurrency limit
counted across processes, and a reservation made again under its id."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import date

import pytest
from redis.asyncio import Redis

from bot.storage import Database
from bot.storage.usage import LedgerStore
from bot.usage import FairQueue, LedgerSpool, LedgerWriter, QueueFull
from bot.usage.counters import Counters, Hold, MemoryCounters
from bot.usage.ledger import CONFIRM_AFTER
from bot.usage.redis_counters import RedisCounters
from bot.usage.redis_queue import RedisFairQueue
from tests.support.discord_env import wait_until
from tests.usage.test_ledger import entry


async def test_spooled_entries_survive_their_process_and_are_written_once(
    db: Database, redis: Redis
) -> None:
    """Entries added by a process that then dies (never flushing) are in the spool; two
    processes draining it at once write each of them exactly once."""
    store = LedgerStore(db)
    dying = LedgerWriter(store, LedgerSpool(redis))
    for user in range(1, 601):  # more than one batch
        await dying.add(entry(user))
    del dying  # killed: what it kept in memory is gone
    first = LedgerWriter(store, LedgerSpool(redis))
    second = LedgerWriter(store, LedgerSpool(redis))
    await asyncio.gather(first.drain(), second.drain(), first.drain())
    total = await store.totals(7, date(2027, 3, 15))
    assert (total.requests, total.tokens) == (600, 600 * 7)
    assert await LedgerSpool(redis).size() == 0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_process_checks_its_entries_reached_the_database(
    db: Database, redis: Redis
) -> None:
    """An entry another process drained is forgotten here without a write; one the spool
    lost (Redis lost its data) is written here once it is overdue."""
    store = LedgerStore(db)
    clock = Clock()
    own = LedgerWriter(store, LedgerSpool(redis), clock=clock)
    holder = LedgerWriter(store, LedgerSpool(redis))
    await own.add(entry(1))
    await holder.drain()
    await own.add(entry(2))
    await redis.flushall()  # entry 2 is lost from the spool
    assert await own.confirm() == 0  # nothing overdue yet
    clock.now += CONFIRM_AFTER
    assert await own.confirm() == 1  # entry 2 written here; entry 1 found
    assert own.pending == 0
    assert (await store.totals(7, date(2027, 3, 15))).requests == 2


async def test_a_batch_written_twice_is_kept_once(db: Database) -> None:
    """The ledger keeps one row per entry id, whatever writes it again."""
    store = LedgerStore(db)
    rows = [entry(1).row(), entry(2).row()]
    await store.add_many(rows)
    await store.add_many(rows)
    assert (await store.totals(7, date(2027, 3, 15))).requests == 2


async def test_entries_kept_here_while_redis_is_away_reach_the_database(db: Database) -> None:
    """With the spool unreachable an entry stays in the process and the flush writes it
    straight to the database."""
    from tests.support.redis import free_port

    gone = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        writer = LedgerWriter(LedgerStore(db), LedgerSpool(gone))
        await writer.add(entry(1))
        assert writer.pending == 1
        assert await writer.flush() == 1
        assert (await LedgerStore(db).totals(7, date(2027, 3, 15))).requests == 1
    finally:
        await gone.aclose()


# -- the queue --------------------------------------------------------------------


async def hold_slot(queue: object, release: asyncio.Event, guild: int, user: int) -> None:
    async with queue.slot(guild, user):  # type: ignore[attr-defined]
        await release.wait()


def two_processes(redis: Redis, concurrency: int = 1, size: int = 100) -> list[RedisFairQueue]:
    """Two processes' queues to the same backend (their own clients of one Redis)."""
    return [
        RedisFairQueue(redis, "http://model:8000/v1", concurrency, size, report_interval=0)
        for _ in range(2)
    ]


async def fair_order(arrivals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The order the in-process queue serves `arrivals` in while its one slot is busy."""
    local = FairQueue(1, 100)
    release = asyncio.Event()
    tasks = [asyncio.create_task(hold_slot(local, release, 0, 0))]
    await wait_until(lambda: local.running == 1, "the local slot to be taken")
    for count, (guild, user) in enumerate(arrivals, start=1):
        tasks.append(asyncio.create_task(hold_slot(local, release, guild, user)))
        await wait_until(lambda n=count: local.waiting == n, "the local request to queue")
    order = local.order()
    release.set()
    await asyncio.gather(*tasks)
    return order


async def test_the_shared_queue_serves_in_the_same_order_as_one_process(redis: Redis) -> None:
    """Requests arriving through two processes are served round robin across servers,
    then members — the order the in-process queue gives — one at a time."""
    arrivals = [(1, 11), (1, 11), (1, 11), (1, 12), (1, 12), (1, 12), (2, 21), (2, 21)]
    expected = await fair_order(arrivals)
    assert expected == [
        (1, 11), (2, 21), (1, 12), (2, 21), (1, 11), (1, 12), (1, 11), (1, 12),
    ]  # fmt: skip
    queues = two_processes(redis)
    served: list[tuple[int, int]] = []
    running = 0
    most = 0

    async def turn(queue: RedisFairQueue, guild: int, user: int) -> None:
        nonlocal running, most
        async with queue.slot(guild, user):
            running += 1
            most = max(most, running)
            served.append((guild, user))
            await asyncio.sleep(0)
            running -= 1

    release = asyncio.Event()
    holder = asyncio.create_task(hold_slot(queues[0], release, 0, 0))
    await wait_until(lambda: queues[0].running == 1, "the first request to run")
    tasks = []
    for count, (guild, user) in enumerate(arrivals, start=1):
        queue = queues[count % 2]  # the two processes take turns receiving them
        tasks.append(asyncio.create_task(turn(queue, guild, user)))
        await wait_until(
            lambda q=queue, n=count: q.shared_waiting == n, "the request to join the shared queue"
        )
    release.set()
    await asyncio.gather(holder, *tasks)
    assert served == expected
    assert most == 1


async def test_concurrency_counts_across_processes(redis: Redis) -> None:
    """With concurrency 2 shared by two processes, a third request waits whichever process
    sends it, and starts when one of the two ends."""
    a, b = two_processes(redis, concurrency=2)
    release = asyncio.Event()
    first = asyncio.create_task(hold_slot(a, release, 1, 1))
    second = asyncio.create_task(hold_slot(b, release, 2, 2))
    await wait_until(lambda: a.running == 1 and b.running == 1, "two running")
    third_started = asyncio.Event()

    async def third() -> None:
        async with a.slot(3, 3):
            third_started.set()

    waiter = asyncio.create_task(third())
    await wait_until(lambda: a.waiting == 1, "the third to wait")
    assert not third_started.is_set()
    release.set()
    await asyncio.wait_for(asyncio.gather(first, second, waiter), 30)
    assert third_started.is_set()


async def test_a_full_shared_queue_refuses(redis: Redis) -> None:
    """max_waiting counts the waiters of every process."""
    a, b = two_processes(redis, concurrency=1, size=2)
    release = asyncio.Event()
    tasks = [asyncio.create_task(hold_slot(a, release, 1, 1))]
    await wait_until(lambda: a.running == 1, "one running")
    tasks.append(asyncio.create_task(hold_slot(a, release, 1, 2)))
    tasks.append(asyncio.create_task(hold_slot(b, release, 1, 3)))
    await wait_until(lambda: a.waiting == 1 and b.waiting == 1, "two waiting")
    with pytest.raises(QueueFull) as refused:
        async with b.slot(1, 4):
            pass
    assert "2 requests are already waiting" in refused.value.message
    release.set()
    await asyncio.gather(*tasks)


async def test_a_dead_process_frees_its_slot_and_its_place(redis: Redis) -> None:
    """A process that stops renewing (killed) loses its running slot after the slot's
    lapse, so a request waiting in another process starts."""
    key = "http://model:8000/v1"
    dead = RedisFairQueue(redis, key, 1, 10, slot_ttl=0.5, alive=0.5, poll_interval=0.1)
    alive = RedisFairQueue(redis, key, 1, 10, slot_ttl=0.5, alive=0.5, poll_interval=0.1)
    release = asyncio.Event()
    holder = asyncio.create_task(hold_slot(dead, release, 1, 1))
    await wait_until(lambda: dead.running == 1, "the doomed request to run")
    # Kill: its poller and its task stop without leaving the queue.
    assert dead._poller is not None
    dead._poller.cancel()
    dead._end = _never  # type: ignore[method-assign]
    holder.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await holder
    started = asyncio.Event()

    async def waiting() -> None:
        async with alive.slot(2, 2):
            started.set()

    await asyncio.wait_for(waiting(), 30)
    assert started.is_set()


async def _never(rid: str) -> None:
    return None


# -- a reservation made again -----------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest) -> Counters:
    if request.param == "memory":
        return MemoryCounters()
    return RedisCounters.from_url(request.getfixturevalue("redis_url"))


async def test_a_request_run_again_replaces_its_own_reservation(counters: Counters) -> None:
    """in_flight 1: a request reserved again under the same id (its process died and
    another runs it) is let through and holds once; any other request is still refused."""
    now = 1_800_000_000.0
    holds = [Hold("g:m:flight", "flight", 1, 1, now + 1800, now + 1800)]
    rid = uuid.uuid4().hex
    assert await counters.reserve(rid, holds, now) is None
    assert await counters.reserve(rid, holds, now) is None
    assert await counters.levels(["g:m:flight"], now) == {"g:m:flight": 1}
    refusal = await counters.reserve(uuid.uuid4().hex, holds, now)
    assert refusal is not None and refusal.level == 1
    await counters.settle(rid, holds, {})
    assert await counters.levels(["g:m:flight"], now) == {"g:m:flight": 0}
    await counters.aclose()
