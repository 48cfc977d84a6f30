"""The repositories own SQLAlchemy: they hand back records and raise domain errors.

Run on SQLite and a real PostgreSQL (the `db` fixture).
"""

from __future__ import annotations

import pytest

from bot.errors import AlreadyExists, Conflict, CoupletError, NotFound
from bot.storage import Database
from bot.storage.guild_settings import GuildSettingsRepository
from bot.storage.locks import guild_write
from bot.storage.presets import Preset, PresetRepository

GUILD, OTHER_GUILD, CHANNEL, ADMIN = 10**17 + 1, 10**17 + 2, 10**17 + 3, 10**17 + 4


async def create(db: Database, name: str, guild_id: int = GUILD) -> Preset:
    async with db.write() as session:
        return await PresetRepository(session).create(
            guild_id, name, description="", params={"seed": 1}, actor_id=ADMIN
        )


async def test_a_taken_name_raises_already_exists_not_a_database_error(db: Database) -> None:
    """A second insert of one name (a create racing another) is AlreadyExists, and nothing leaks."""
    await create(db, "poem")
    with pytest.raises(AlreadyExists) as info:
        await create(db, "poem")
    assert (info.value.kind, info.value.name) == ("preset", "poem")
    assert info.value.message.startswith("A preset named 'poem' already exists")
    assert info.value.__cause__ is None  # the IntegrityError is not shown to anyone
    await create(db, "poem", OTHER_GUILD)  # names are per server
    async with db.read() as session:
        assert [p.name for p in await PresetRepository(session).all(GUILD)] == ["poem"]


async def test_a_missing_preset_raises_not_found(db: Database) -> None:
    """existing() names the preset that is not there, and never finds another server's."""
    await create(db, "mine", OTHER_GUILD)
    async with db.read() as session:
        with pytest.raises(NotFound) as info:
            await PresetRepository(session).existing(GUILD, "mine")
    assert (info.value.kind, info.value.name) == ("preset", "mine")
    assert "no preset named 'mine' on this server" in info.value.message


async def test_an_update_from_a_stale_read_raises_conflict(db: Database) -> None:
    """Saving a preset read before someone else's save fails with Conflict and keeps theirs."""
    stale = await create(db, "v")
    async with guild_write(db, GUILD) as tx:
        fresh = await tx.presets.update(stale, params={"seed": 2}, actor_id=ADMIN)
    assert fresh.version == stale.version + 1
    with pytest.raises(Conflict, match="kept changing while saving"):
        async with guild_write(db, GUILD) as tx:
            await tx.presets.update(stale, params={"seed": 3}, actor_id=ADMIN)
    async with db.read() as session:
        kept = await PresetRepository(session).existing(GUILD, "v")
    assert dict(kept.params) == {"seed": 2} and kept.version == fresh.version


async def test_a_concurrent_save_between_read_and_write_raises_conflict(
    postgres_url: str,
) -> None:
    """PostgreSQL: a preset read in one open transaction and saved by another meanwhile
    gives Conflict when the first saves, and the other save is kept.

    (SQLite runs write transactions one at a time, so this race needs PostgreSQL.)
    """
    db = Database(postgres_url)
    await db.upgrade()
    try:
        await create(db, "race")
        with pytest.raises(Conflict):
            async with db.write() as first:
                repo = PresetRepository(first)
                read = await repo.existing(GUILD, "race")  # version 1, held by `first`
                async with guild_write(db, GUILD) as other:
                    await other.presets.update(read, params={"seed": 9}, actor_id=ADMIN)
                await repo.update(read, params={"seed": 5}, actor_id=ADMIN)
        async with db.read() as session:
            assert (await PresetRepository(session).existing(GUILD, "race")).params == {"seed": 9}
    finally:
        await db.dispose()


async def test_channel_default_is_set_replaced_and_cleared(db: Database) -> None:
    """set_channel stores one default per channel; None clears it."""
    poem, code = await create(db, "poem"), await create(db, "code")
    for preset, expected in ((poem, {CHANNEL: "poem"}), (code, {CHANNEL: "code"}), (None, {})):
        async with guild_write(db, GUILD) as tx:
            await tx.presets.set_channel(GUILD, CHANNEL, preset, ADMIN)
        async with db.read() as session:
            assert await PresetRepository(session).channel_map(GUILD) == expected


async def test_setting_value_is_none_until_set(db: Database) -> None:
    """value() gives the stored value, or None when the server uses the default."""
    async with guild_write(db, GUILD) as tx:
        assert await tx.settings.value(GUILD, "temperature") is None
        await tx.settings.put(GUILD, "temperature", 0.7, ADMIN)
    async with db.read() as session:
        assert await GuildSettingsRepository(session).value(GUILD, "temperature") == 0.7


async def test_a_failed_block_writes_nothing(db: Database) -> None:
    """guild_write rolls back the change and its audit entry when the block raises."""
    with pytest.raises(CoupletError):
        async with guild_write(db, GUILD) as tx:
            await tx.settings.put(GUILD, "temperature", 0.7, ADMIN)
            tx.audit.record(GUILD, ADMIN, "setting.set", "temperature", None, 0.7)
            raise CoupletError("stop")
    async with db.read() as session:
        assert await GuildSettingsRepository(session).all(GUILD) == {}
