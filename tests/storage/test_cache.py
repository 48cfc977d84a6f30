"""The per-server read-through cache."""

from __future__ import annotations

import asyncio

import pytest

from bot.storage import GuildCache


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
