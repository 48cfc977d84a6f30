"""Stored /sampling charts, and their migration up and down, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import inspect

from bot.storage import Database
from bot.storage.sampling import SamplingChart, SamplingStore

TABLE = "sampling_charts"


async def tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_migration_0003_up_and_down(db_url: str) -> None:
    """Revision 0003 adds the charts table; downgrading to 0002 removes only it; up again."""
    db = Database(db_url)
    try:
        await db.upgrade("0002")
        assert TABLE not in await tables(db)
        await db.upgrade("0003")
        assert await db.current() == "0003"
        assert TABLE in await tables(db)
        await db.downgrade("0002")
        names = await tables(db)
        assert TABLE not in names
        assert "generations" in names
        await db.upgrade("0003")
        assert TABLE in await tables(db)
    finally:
        await db.dispose()


async def test_add_get_and_prune(db: Database) -> None:
    """A chart reads back whole (unicode, newlines, floats, 64-bit ids); pruning removes it."""
    store = SamplingStore(db)
    chart = SamplingChart(
        user_id=2**62 + 5,
        guild_id=2**62 + 6,
        channel_id=7,
        prompt="床前明月光，\n疑是",
        model="gemma-3-270m",
        temperature=0.35,
        top_p=0.9,
        top_logprobs=[("地", -0.25), (" \n", -2.5), ("", -3.0)],
    )
    chart_id = await store.add(chart)
    loaded = await store.get(chart_id)
    assert loaded is not None
    assert loaded.id == chart_id
    assert (loaded.user_id, loaded.guild_id, loaded.channel_id) == (2**62 + 5, 2**62 + 6, 7)
    assert loaded.prompt == "床前明月光，\n疑是"
    assert (loaded.model, loaded.temperature, loaded.top_p) == ("gemma-3-270m", 0.35, 0.9)
    assert loaded.top_logprobs == [("地", -0.25), (" \n", -2.5), ("", -3.0)]
    assert await store.get(chart_id + 1) is None
    assert await store.prune(timedelta(days=1)) == 0
    assert await store.prune(timedelta(0)) == 1
    assert await store.get(chart_id) is None
