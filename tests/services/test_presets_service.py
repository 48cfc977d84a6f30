"""Presets: validation, editing, channel defaults, limits, concurrency, isolation."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from bot.errors import AlreadyExists, NotFound, ParameterError
from bot.services.presets import MAX_PRESETS, NO_PRESETS, PresetService
from bot.storage import ChannelPreset, Database, PresetRow
from tests.storage.statements import count_statements
from tests.support.postgres import db, db_url, postgres_cluster, postgres_url

__all__ = ["db", "db_url", "postgres_cluster", "postgres_url"]

GUILD_A, GUILD_B = 111_111_111_111_111_111, 222_222_222_222_222_222
CHANNEL_A, CHANNEL_A2, CHANNEL_B = 333_333_333_333_333_331, 333_333_333_333_333_332, 444
ADMIN = 900_000_000_000_000_001


async def test_create_show_list_delete(db: Database) -> None:
    """A preset is stored with typed values and can be listed, shown and deleted."""
    service = PresetService(db)
    created = await service.create(
        GUILD_A,
        "Poem",
        description="Short verse",
        params={"temperature": "0.9", "max_tokens": 60, "stop": r"\n\n|END"},
        actor_id=ADMIN,
    )
    assert created.name == "poem"  # names are case-insensitive, stored lowercase
    assert dict(created.params) == {"temperature": 0.9, "max_tokens": 60, "stop": ["\n\n", "END"]}
    assert created.version == 1 and created.created_by == ADMIN
    assert created.created_at.tzinfo is not None

    await service.create(GUILD_A, "code", params={"temperature": 0}, actor_id=ADMIN)
    assert [p.name for p in await service.list(GUILD_A)] == ["code", "poem"]
    assert (await service.get(GUILD_A, "POEM")).description == "Short verse"
    assert await service.names(GUILD_A, "po") == ["poem"]
    assert await service.names(GUILD_A, "e") == ["code", "poem"]  # contains

    assert await service.delete(GUILD_A, "poem", ADMIN) == []
    assert [p.name for p in await service.list(GUILD_A)] == ["code"]
    with pytest.raises(NotFound, match="There is no preset named 'poem'"):
        await service.get(GUILD_A, "poem")


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("has space", {}, "preset name 'has space' is not allowed: use 1 to 32 lowercase"),
        ("x" * 33, {}, "preset name 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' is not allowed"),
        ("", {}, "preset name '' is not allowed"),
        ("ok", {"description": "d" * 101}, "description is 101 characters long: use at most 100."),
        ("ok", {"params": {"temperature": "9"}}, "temperature 9 is out of range: use a number"),
        ("ok", {"params": {"top_p": "x"}}, "top_p 'x' is not a number"),
        ("ok", {"params": {"n": 3, "best_of": 2}}, "best_of 2 is less than n 3"),
        ("ok", {"params": {"prompt": "hi"}}, "prompt is not a parameter a preset or default"),
        ("ok", {"params": {}}, "A preset needs at least one parameter"),
    ],
)
async def test_bad_input_is_refused_with_a_sentence(
    db: Database, name: str, kwargs: dict, expected: str
) -> None:
    """Bad names, descriptions and values are refused with one clear sentence."""
    service = PresetService(db)
    kwargs.setdefault("params", {"temperature": 1})
    with pytest.raises(ParameterError) as err:
        await service.create(GUILD_A, name, actor_id=ADMIN, **kwargs)
    assert str(err.value).startswith(expected)
    assert await service.list(GUILD_A) == []


async def test_duplicate_name_is_refused(db: Database) -> None:
    """Creating a preset whose name exists says so instead of overwriting it."""
    service = PresetService(db)
    await service.create(GUILD_A, "poem", params={"temperature": 1}, actor_id=ADMIN)
    with pytest.raises(AlreadyExists, match="A preset named 'poem' already exists"):
        await service.create(GUILD_A, "Poem", params={"temperature": 0}, actor_id=ADMIN)
    assert (await service.get(GUILD_A, "poem")).params["temperature"] == 1


async def test_edit_changes_only_what_is_given_and_is_audited(db: Database) -> None:
    """Edit merges new values, removes cleared ones, and records old and new."""
    service = PresetService(db)
    await service.create(
        GUILD_A, "poem", params={"temperature": 1, "max_tokens": 50, "stop": "END"}, actor_id=ADMIN
    )
    edited = await service.edit(
        GUILD_A,
        "poem",
        params={"temperature": "0.4", "logit_bias": "hello=-100, 50256=-100"},
        unset=["stop"],
        description="Calmer",
        actor_id=ADMIN,
    )
    assert dict(edited.params) == {
        "temperature": 0.4,
        "max_tokens": 50,
        "logit_bias": {"50256": -100},
        "logit_bias_words": {"hello": -100},
    }
    assert edited.description == "Calmer"
    assert edited.version == 2

    from bot.services.server_settings import ServerSettingsService

    history = await ServerSettingsService(db).history(GUILD_A)
    assert history[0].action == "preset.edit"
    assert history[0].old == {
        "description": "",
        "logit_bias": None,
        "logit_bias_words": None,
        "stop": ["END"],
        "temperature": 1,
    }
    assert history[0].new["temperature"] == 0.4 and history[0].new["stop"] is None
    assert history[1].action == "preset.create"

    with pytest.raises(ParameterError, match="clear 'colour' is not a preset parameter"):
        await service.edit(GUILD_A, "poem", unset=["colour"], actor_id=ADMIN)
    with pytest.raises(NotFound, match="There is no preset named 'nope'"):
        await service.edit(GUILD_A, "nope", params={"temperature": 1}, actor_id=ADMIN)


async def test_preset_limit_per_server(db: Database) -> None:
    """A server keeps at most 25 presets; the 26th is refused with what to do."""
    service = PresetService(db)
    for i in range(MAX_PRESETS):
        await service.create(GUILD_A, f"p{i}", params={"seed": i}, actor_id=ADMIN)
    with pytest.raises(ParameterError, match=r"already has 25 presets.*/preset delete"):
        await service.create(GUILD_A, "one-more", params={"seed": 1}, actor_id=ADMIN)
    # Another server is not affected by this one's count.
    await service.create(GUILD_B, "one-more", params={"seed": 1}, actor_id=ADMIN)
    assert len(await service.names(GUILD_A, "")) == MAX_PRESETS


async def test_concurrent_creates_never_exceed_the_limit(db: Database) -> None:
    """Five simultaneous creates with room for one: exactly one succeeds."""
    setup = PresetService(db, max_presets=3)
    await setup.create(GUILD_A, "a", params={"seed": 1}, actor_id=ADMIN)
    await setup.create(GUILD_A, "b", params={"seed": 2}, actor_id=ADMIN)
    results = await asyncio.gather(
        *(
            PresetService(db, max_presets=3).create(
                GUILD_A, f"new{i}", params={"seed": i}, actor_id=ADMIN
            )
            for i in range(5)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, ParameterError) for r in results if isinstance(r, BaseException))
    assert len(await PresetService(db).list(GUILD_A)) == 3


async def test_concurrent_edits_of_one_preset_lose_nothing(db: Database) -> None:
    """Ten people editing different fields of one preset at once: all ten changes stay."""
    await PresetService(db).create(GUILD_A, "shared", params={"max_tokens": 10}, actor_id=ADMIN)
    edits = {
        "temperature": 0.5,
        "top_p": 0.9,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
        "logprobs": 3,
        "seed": 42,
        "echo": True,
        "model": "gemma-3-270m",
        "suffix": "!",
        "stop": ["###"],
    }
    # One service per editor, as separate bot processes would have.
    await asyncio.gather(
        *(
            PresetService(db).edit(GUILD_A, "shared", params={k: v}, actor_id=ADMIN + i)
            for i, (k, v) in enumerate(edits.items())
        )
    )
    final = await PresetService(db).get(GUILD_A, "shared")
    assert dict(final.params) == {"max_tokens": 10, **edits}
    assert final.version == 1 + len(edits)


async def test_version_counter_refuses_a_stale_write(db: Database) -> None:
    """A write based on an old read of a preset fails instead of overwriting."""
    await PresetService(db).create(GUILD_A, "v", params={"seed": 1}, actor_id=ADMIN)
    async with db.sessionmaker() as reader:
        row = (await reader.scalars(select(PresetRow).where(PresetRow.name == "v"))).one()
    # `row` is now detached, holding version 1; someone else saves version 2.
    await PresetService(db).edit(GUILD_A, "v", params={"seed": 2}, actor_id=ADMIN)
    async with db.sessionmaker() as writer:
        writer.add(row)
        row.params = {"seed": 3}
        with pytest.raises(StaleDataError):
            await writer.commit()
    assert (await PresetService(db).get(GUILD_A, "v")).params["seed"] == 2


async def test_channel_default_preset(db: Database) -> None:
    """A channel's default can be set, changed, cleared, and goes when the preset goes."""
    service = PresetService(db)
    await service.create(GUILD_A, "poem", params={"temperature": 1}, actor_id=ADMIN)
    await service.create(GUILD_A, "code", params={"temperature": 0}, actor_id=ADMIN)
    assert await service.channel_preset(GUILD_A, CHANNEL_A) is None

    await service.set_channel_preset(GUILD_A, CHANNEL_A, "poem", ADMIN)
    await service.set_channel_preset(GUILD_A, CHANNEL_A2, "poem", ADMIN)
    assert (await service.channel_preset(GUILD_A, CHANNEL_A)).name == "poem"
    await service.set_channel_preset(GUILD_A, CHANNEL_A2, "code", ADMIN)
    assert (await service.channel_preset(GUILD_A, CHANNEL_A2)).name == "code"

    assert await service.delete(GUILD_A, "poem", ADMIN) == [CHANNEL_A]
    assert await service.channel_preset(GUILD_A, CHANNEL_A) is None
    assert await service.set_channel_preset(GUILD_A, CHANNEL_A2, None, ADMIN) is None
    assert await service.channel_preset(GUILD_A, CHANNEL_A2) is None
    with pytest.raises(NotFound, match="There is no preset named 'poem'"):
        await service.set_channel_preset(GUILD_A, CHANNEL_A, "poem", ADMIN)


async def test_one_server_cannot_see_or_use_anothers_presets(db: Database) -> None:
    """Server B cannot list, show, edit, delete or pick server A's preset."""
    service = PresetService(db)
    await service.create(GUILD_A, "secret", params={"temperature": 2}, actor_id=ADMIN)
    assert await service.list(GUILD_B) == []
    assert await service.names(GUILD_B, "") == []
    assert await service.find(GUILD_B, "secret") is None
    for action in (
        service.get(GUILD_B, "secret"),
        service.edit(GUILD_B, "secret", params={"temperature": 0}, actor_id=ADMIN),
        service.delete(GUILD_B, "secret", ADMIN),
        service.set_channel_preset(GUILD_B, CHANNEL_B, "secret", ADMIN),
    ):
        with pytest.raises(NotFound, match="no preset named 'secret' on this server"):
            await action
    # B may use the same name for its own preset.
    await service.create(GUILD_B, "secret", params={"temperature": 0}, actor_id=ADMIN)
    assert (await service.get(GUILD_A, "secret")).params["temperature"] == 2


async def test_database_refuses_a_channel_pointing_at_another_servers_preset(
    db: Database,
) -> None:
    """Even bypassing the service, a channel default cannot cross servers."""
    preset = await PresetService(db).create(GUILD_A, "x", params={"seed": 1}, actor_id=ADMIN)
    async with db.sessionmaker() as session:
        preset_id = (
            await session.scalars(select(PresetRow.id).where(PresetRow.name == preset.name))
        ).one()
        session.add(
            ChannelPreset(guild_id=GUILD_B, channel_id=CHANNEL_B, preset_id=preset_id, set_by=1)
        )
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_restart_keeps_presets_and_channel_defaults(db_url: str) -> None:
    """Presets and channel defaults survive disposing of the database and reopening it."""
    first = Database(db_url)
    await first.upgrade()
    service = PresetService(first)
    await service.create(GUILD_A, "poem", params={"temperature": 1.2}, actor_id=ADMIN)
    await service.set_channel_preset(GUILD_A, CHANNEL_A, "poem", ADMIN)
    await first.dispose()

    second = Database(db_url)
    try:
        await second.upgrade()
        again = PresetService(second)
        assert (await again.get(GUILD_A, "poem")).params == {"temperature": 1.2}
        assert (await again.channel_preset(GUILD_A, CHANNEL_A)).name == "poem"
    finally:
        await second.dispose()


async def test_reads_are_cached_until_a_write(db: Database) -> None:
    """Listing twice makes one round trip; a create is visible immediately."""
    service = PresetService(db)
    await service.list(GUILD_A)
    with count_statements(db) as statements:
        await service.list(GUILD_A)
        await service.names(GUILD_A, "p")
        await service.channel_preset(GUILD_A, CHANNEL_A)
    assert statements == []
    await service.create(GUILD_A, "poem", params={"temperature": 1}, actor_id=ADMIN)
    assert await service.names(GUILD_A, "") == ["poem"]


async def test_servers_without_presets_share_one_cached_value(db: Database) -> None:
    """Every server with no presets and no channel defaults shares one cached value;
    a server that creates one gets its own value with the preset in it."""
    service = PresetService(db)
    assert await service.snapshot(GUILD_A) is NO_PRESETS
    assert await service.snapshot(GUILD_B) is NO_PRESETS
    await service.create(GUILD_A, "poem", params={"temperature": 0.9}, actor_id=ADMIN)
    own = await service.snapshot(GUILD_A)
    assert own is not NO_PRESETS
    assert own.get("poem") is not None
    assert await service.snapshot(GUILD_B) is NO_PRESETS
