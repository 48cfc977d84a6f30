"""The stored generations that buttons refer to."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.storage import Database
from bot.storage.generations import GenerationRecord, GenerationStore


async def test_add_get_and_prune(tmp_path: Path) -> None:
    """A stored generation reads back whole; pruning removes it and get() then says None."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    try:
        await db.upgrade()
        store = GenerationStore(db)
        record = GenerationRecord(
            user_id=5,
            guild_id=6,
            channel_id=7,
            private=True,
            request={"prompt": "hi", "n": 1},
            result={"choices": [{"index": 0, "text": "there"}]},
            display={"clean_mode": "seed"},
        )
        gid = await store.add(record)
        loaded = await store.get(gid)
        assert loaded is not None
        assert (loaded.user_id, loaded.guild_id, loaded.channel_id, loaded.private) == (
            5,
            6,
            7,
            True,
        )
        assert loaded.request == {"prompt": "hi", "n": 1}
        assert loaded.result["choices"][0]["text"] == "there"
        assert loaded.display == {"clean_mode": "seed"}
        assert await store.prune(timedelta(days=1)) == 0
        assert await store.prune(timedelta(0)) == 1
        assert await store.get(gid) is None
    finally:
        await db.dispose()
