"""What processes share through a real Redis: leases (one runner, takeover when the holder
stops renewing), IDENTIFY turns per max_concurrency bucket, and cache invalidation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bot.cluster import Cluster, IdentifyGate, InvalidationBus, Leases
from bot.storage.cache import GuildCache
from tests.support.discord_env import wait_until


async def test_one_process_holds_a_lease_until_it_lapses(redis: Redis) -> None:
    """Of two processes claiming the same work, one gets it and keeps it by renewing; when
    it stops renewing (killed), the other takes over once the lease lapses."""
    first, second = Leases(redis, "first"), Leases(redis, "second")
    assert await first.claim("ledger-flush", ttl=0.5)
    assert not await second.claim("ledger-flush", ttl=0.5)
    assert await first.claim("ledger-flush", ttl=0.5)  # renewed by its holder
    assert not await second.claim("ledger-flush", ttl=0.5)
    # `first` stops renewing, as a killed process would.
    deadline = time.monotonic() + 30
    while not await second.claim("ledger-flush", ttl=0.5):
        assert time.monotonic() < deadline, "the lease never lapsed"
        await asyncio.sleep(0.05)
    assert not await first.claim("ledger-flush", ttl=0.5)
    assert (first.runs["ledger-flush"], "ledger-flush" in second.held) == (2, True)


async def test_a_released_lease_is_taken_at_once(redis: Redis) -> None:
    """A process that stops cleanly gives its leases up; another claims them at once."""
    first, second = Leases(redis, "first"), Leases(redis, "second")
    assert await first.claim("automod-refresh", ttl=600)
    await first.release_all()
    assert await second.claim("automod-refresh", ttl=600)


async def test_alone_every_lease_is_ours() -> None:
    """Without Redis (one process) every claim is granted."""
    leases = Leases(None, "alone")
    assert await leases.claim("anything", ttl=1) and await leases.claim("anything", ttl=1)


async def test_an_unreachable_redis_grants_no_lease() -> None:
    """A Redis that cannot be reached answers False: the work waits rather than run twice."""
    from tests.support.redis import free_port

    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        assert not await Leases(client, "lonely").claim("ledger-flush", ttl=1)
    finally:
        await client.aclose()


async def identify_times(gates: list[IdentifyGate], shards: list[int], mc: int) -> list[float]:
    """Each gate lets its shard identify; returns when each was let through."""
    start = time.monotonic()

    async def one(gate: IdentifyGate, shard: int) -> float:
        await gate.wait_turn(shard, mc)
        return time.monotonic() - start

    return list(await asyncio.gather(*(one(g, s) for g, s in zip(gates, shards, strict=True))))


async def test_identify_turns_are_five_seconds_apart_per_bucket(redis: Redis) -> None:
    """Two processes' shards in one bucket (max_concurrency 1) identify at least the
    interval apart; shards in different buckets (max_concurrency 2) go together."""
    interval = 0.6
    a = IdentifyGate(redis, "a", interval=interval)
    b = IdentifyGate(redis, "b", interval=interval)
    same = sorted(await identify_times([a, b], [0, 1], 1))
    assert same[1] - same[0] >= interval * 0.95
    await redis.flushall()
    apart = await identify_times([a, b], [0, 1], 2)
    assert max(apart) < interval  # neither waited for the other
    await redis.flushall()
    # Shards 0 and 2 share bucket 0 of max_concurrency 2.
    shared = sorted(await identify_times([a, b], [0, 2], 2))
    assert shared[1] - shared[0] >= interval * 0.95


async def test_identify_turns_alone_are_kept_in_process() -> None:
    """Without Redis, one process's shards of one bucket still identify the interval apart."""
    gate = IdentifyGate(None, "alone", interval=0.3)
    times = sorted(await identify_times([gate, gate], [0, 1], 1))
    assert times[1] - times[0] >= 0.3 * 0.95


@pytest.fixture
async def two_buses(redis_url: str) -> AsyncIterator[tuple[Cluster, Cluster]]:
    first = Cluster(Redis.from_url(redis_url), instance="first")
    second = Cluster(Redis.from_url(redis_url), instance="second")
    await first.start()
    await second.start()
    try:
        await asyncio.wait_for(first.bus.listening.wait(), 30)
        await asyncio.wait_for(second.bus.listening.wait(), 30)
        yield first, second
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_change_in_one_process_empties_the_others_cache(
    two_buses: tuple[Cluster, Cluster],
) -> None:
    """A committed change announced by one process makes the other forget that server's
    entry (and only that one); None makes it forget everything."""
    first, second = two_buses
    values = {1: "old", 2: "kept"}

    async def load(guild_id: int) -> str:
        return values[guild_id]

    here, there = GuildCache(load), GuildCache(load)
    for bus, cache in ((first.bus, here), (second.bus, there)):
        bus.attach("presets", cache.forget)
        cache.on_change = lambda guild, bus=bus: bus.publish("presets", guild)
    assert (await there.get(1), await there.get(2)) == ("old", "kept")
    values[1] = "new"
    await here.changed(1)
    await wait_until(lambda: 1 not in there, "the other process to forget server 1")
    assert 2 in there
    assert await there.get(1) == "new"
    await here.changed(None)
    await wait_until(lambda: len(there) == 0, "the other process to forget everything")
    assert (second.bus.received["presets"], first.bus.received["presets"]) == (2, 0)


async def test_alone_nothing_is_published() -> None:
    """Without Redis the bus does nothing (and never fails)."""
    bus = InvalidationBus(None, "alone")
    await bus.start()
    await bus.publish("settings", 1)
    assert not bus.published
    await bus.aclose()
