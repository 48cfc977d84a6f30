"""The per-server read-through cache."""

from __future__ import annotations

import asyncio

import pytest

from bot.storage import GuildCache
from bot.storage.cache import EMPTY, frozen


async def test_concurrent_misses_share_one_load() -> None:
    """Ten readers of a cold guild cause one load, and all get its value."""
    release = asyncio.Event()

    async def loader(guild_id: int) -> str:
        await release.wait()
        return f"config of {guild_id}"

    cache: GuildCache[str] = GuildCache(loader)
    readers = [asyncio.create_task(cache.get(7)) for _ in range(10)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*readers) == ["config of 7"] * 10
    assert cache.loads == 1
    assert await cache.get(7) == "config of 7" and cache.loads == 1


async def test_invalidation_during_a_load_discards_its_result() -> None:
    """A load that read before a write does not put its stale value in the cache."""
    version = 1
    started, release = asyncio.Event(), asyncio.Event()

    async def loader(guild_id: int) -> int:
        seen = version
        started.set()
        await release.wait()
        return seen

    cache: GuildCache[int] = GuildCache(loader)
    slow = asyncio.create_task(cache.get(1))
    await started.wait()
    version = 2  # a write commits...
    cache.invalidate(1)  # ...and invalidates while the old load is in flight
    release.set()
    assert await slow == 1
    assert await cache.get(1) == 2
    assert cache.loads == 2


async def test_a_reader_cancelled_with_the_shared_load_stops() -> None:
    """When the loop shuts down it cancels the load and its waiting reader at once: the
    reader stops too, instead of taking its cancellation for the load's and loading again."""
    started = asyncio.Event()

    async def loader(guild_id: int) -> str:
        started.set()
        await asyncio.Event().wait()  # never finishes by itself
        return "never"

    cache: GuildCache[str] = GuildCache(loader)
    first = asyncio.create_task(cache.get(7))
    await started.wait()
    second = asyncio.create_task(cache.get(7))
    await asyncio.sleep(0)  # the second reader waits on the first one's load
    first.cancel()
    second.cancel()
    results = await asyncio.wait_for(
        asyncio.gather(first, second, return_exceptions=True), timeout=30
    )
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert cache.loads == 1


async def test_a_reader_loads_again_when_only_the_shared_load_was_cancelled() -> None:
    """The reader whose load was shared is cancelled (its interaction gave up); another
    reader waiting on that load is not, and gets the value from a load of its own."""
    started, release = asyncio.Event(), asyncio.Event()

    async def loader(guild_id: int) -> str:
        started.set()
        await release.wait()
        return f"config of {guild_id}"

    cache: GuildCache[str] = GuildCache(loader)
    first = asyncio.create_task(cache.get(7))
    await started.wait()
    second = asyncio.create_task(cache.get(7))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    release.set()
    assert await second == "config of 7"
    assert first.cancelled()
    assert cache.loads == 2


async def test_errors_are_not_cached() -> None:
    """A failed load raises to its caller and the next get tries again."""
    calls = 0

    async def loader(guild_id: int) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database went away")
        return 42

    cache: GuildCache[int] = GuildCache(loader)
    with pytest.raises(ConnectionError):
        await cache.get(3)
    assert await cache.get(3) == 42


async def test_guilds_are_cached_separately() -> None:
    """Invalidating one guild leaves another's value cached."""

    async def loader(guild_id: int) -> int:
        return guild_id * 10

    cache: GuildCache[int] = GuildCache(loader)
    assert (await cache.get(1), await cache.get(2)) == (10, 20)
    cache.invalidate(1)
    await cache.get(2)
    assert cache.loads == 2
    await cache.get(1)
    assert cache.loads == 3


async def test_the_least_recently_read_guild_is_evicted_at_the_bound() -> None:
    """With room for 3, a 4th guild evicts the one read longest ago; it reloads when read."""
    loaded: list[int] = []

    async def loader(guild_id: int) -> int:
        loaded.append(guild_id)
        return guild_id

    cache: GuildCache[int] = GuildCache(loader, max_size=3)
    for guild_id in (1, 2, 3):
        await cache.get(guild_id)
    await cache.get(1)  # 1 is now the most recently read; 2 the least
    await cache.get(4)
    assert len(cache) == 3 and cache.evictions == 1
    assert 2 not in cache and all(g in cache for g in (1, 3, 4))
    assert loaded == [1, 2, 3, 4]
    await cache.get(1), await cache.get(3), await cache.get(4)
    assert loaded == [1, 2, 3, 4]  # hits: no load
    await cache.get(2)  # evicted, so read again (and 1, now the oldest, goes)
    assert loaded == [1, 2, 3, 4, 2]
    assert 1 not in cache and len(cache) == 3


async def test_many_guilds_never_grow_the_cache_past_its_bound() -> None:
    """1,000 guilds read and written through a cache of 50 leave 50 values and nothing else."""

    async def loader(guild_id: int) -> int:
        return guild_id

    cache: GuildCache[int] = GuildCache(loader, max_size=50)
    for guild_id in range(1000):
        await cache.get(guild_id)
    assert len(cache) == 50 and cache.evictions == 950
    assert all(g in cache for g in range(950, 1000))
    for guild_id in range(1000):
        cache.invalidate(guild_id)
    assert len(cache) == 0
    # No per-guild bookkeeping outlives the loads (invalidation used to keep a counter each).
    assert cache._running == {} and cache._joinable == {}


async def test_a_write_still_invalidates_a_bounded_cache() -> None:
    """At the bound, an invalidated guild is read again and the write's value is seen."""
    version = {1: "old", 2: "b", 3: "c"}

    async def loader(guild_id: int) -> str:
        return version[guild_id]

    cache: GuildCache[str] = GuildCache(loader, max_size=2)
    assert await cache.get(1) == "old"
    version[1] = "new"  # a write commits...
    cache.invalidate(1)  # ...and invalidates
    assert await cache.get(1) == "new"
    assert await cache.get(2) == "b" and await cache.get(3) == "c"  # 1 evicted meanwhile
    assert 1 not in cache
    version[1] = "newer"
    cache.invalidate(1)  # invalidating an evicted guild is harmless
    assert await cache.get(1) == "newer"


def test_frozen_shares_one_empty_mapping_and_copies_nothing_else() -> None:
    """Empty mappings become the one shared EMPTY; others a read-only view of their own."""
    assert frozen({}) is EMPTY
    assert frozen({}) is frozen({})
    values = frozen({"temperature": 0.5})
    assert values is not EMPTY and dict(values) == {"temperature": 0.5}
    with pytest.raises(TypeError):
        values["temperature"] = 1.0  # type: ignore[index]
