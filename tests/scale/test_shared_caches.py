"""Every per-server cache of the bot is shared: a change made through one bot process
(its services, as the commands call them) empties that entry in the other's cache —
settings, presets, limits, the moderation policy and the AutoMod rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.app import CoupletBot
from bot.cluster import Cluster
from bot.settings import Settings
from tests.support.discord_env import wait_until
from tests.support.migrated import migrated_sqlite

GUILD = 4242


@pytest.fixture
async def two_bots(tmp_path: Path, redis_url: str) -> AsyncIterator[tuple[CoupletBot, CoupletBot]]:
    """Two bots (not connected to Discord) on one database and one Redis, listening."""
    database = f"sqlite+aiosqlite:///{migrated_sqlite(tmp_path / 'shared.db')}"
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database,
        completions_base_url="http://127.0.0.1:9/v1",
        redis_url=redis_url,
        moderation_classifier=False,
    )
    bots = [
        CoupletBot(settings, cluster=Cluster(Redis.from_url(redis_url), instance=name))
        for name in ("one", "two")
    ]
    for bot in bots:
        await bot.cluster.start()
        await bot.cluster.bus.listening.wait()
    try:
        yield bots[0], bots[1]
    finally:
        for bot in bots:
            await bot.cluster.aclose()
            await bot.usage.counters.aclose()
            await bot.completions.aclose()
            await bot.db.dispose()


async def test_each_cache_hears_the_other_process(two_bots: tuple[CoupletBot, CoupletBot]) -> None:
    """Warm every cache in process two, change each through process one: process two
    reads the new value from the database on its next use."""
    one, two = two_bots
    caches = {
        "settings": two.server_settings.cache,
        "presets": two.presets.cache,
        "limits": two.usage.limits.cache,
        "moderation": two.moderation.policies,
        "automod": two.moderation.automod,
    }
    await two.server_settings.get(GUILD)
    await two.presets.snapshot(GUILD)
    await two.usage.limits.get(GUILD)
    await two.moderation.policy(GUILD)
    await two.moderation.automod_rules(GUILD)
    assert all(GUILD in cache for cache in caches.values())

    await one.server_settings.set(GUILD, "temperature", "0.3", actor_id=1)
    await one.presets.create(GUILD, "cool", params={"temperature": 0.2}, actor_id=1)
    await one.usage.limits.set(GUILD, "requests_per_minute", 5, actor_id=1)
    await one.moderation.set_action(GUILD, "profanity", "block", actor_id=1)
    await one.moderation.refresh_automod(GUILD)
    for name, cache in caches.items():
        await wait_until(lambda cache=cache: GUILD not in cache, f"process two to forget {name}")

    assert (await two.server_settings.get(GUILD)).value("temperature") == 0.3
    assert (await two.presets.find(GUILD, "cool")) is not None
    assert (await two.usage.limits.get(GUILD)).value("requests_per_minute") == 5
    assert (await two.moderation.policy(GUILD)).action("profanity", private=False) == "block"
