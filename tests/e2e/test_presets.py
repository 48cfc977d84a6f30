"""/preset end to end: the emulator, the real bot, and a loopback backend that records requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox import FakeDiscord, OptionError
from bot.sandbox.permissions import MANAGE_GUILD
from tests.e2e.conftest import (
    EPHEMERAL,
    RecordingProxy,
    StubBackend,
    couplet_on_stub,
    ephemeral_answer,
)
from tests.support.discord_env import BotRun

WAIT = 30.0


@dataclass
class World:
    fake: FakeDiscord
    run: BotRun
    backend: StubBackend
    other: Any  # the second server (emulator Guild)


@pytest.fixture
async def world(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[World]:
    """The real bot on a stub backend, in the default server and a second one."""
    other = fake.add_guild("Other Server")
    other.add_channel("chat")
    other.add_member("bob", permissions=MANAGE_GUILD)
    async with couplet_on_stub(fake, tmp_path / "couplet.db") as stubbed:
        yield World(fake, stubbed.run, stubbed.backend, other)


async def answer(rec: Any) -> str:
    """The text of the interaction's final message, checked to be ephemeral."""
    return await ephemeral_answer(rec, WAIT)


async def test_admin_creates_a_preset_and_complete_sends_its_values(world: World) -> None:
    """A preset made with /preset create reaches the backend when /complete names it."""
    fake = world.fake
    created = await answer(
        await fake.slash(
            "preset create",
            member="admin",
            name="Haiku",
            description="Short and calm",
            temperature=0.25,
            max_tokens=12,
            stop=r"END|\n\n",
            presence_penalty=0.5,
        )
    )
    assert created.startswith("Created preset `haiku`")

    rec = await fake.slash("complete", member="alice", prompt="Autumn", preset="haiku")
    await rec.wait_final(WAIT)
    sent = world.backend.requests[-1]
    assert sent["prompt"] == "Autumn"
    assert sent["temperature"] == 0.25
    assert sent["max_tokens"] == 12
    assert sent["stop"] == ["END", "\n\n"]
    assert sent["presence_penalty"] == 0.5

    # An option still beats the preset.
    rec = await fake.slash(
        "complete", member="alice", prompt="Winter", preset="haiku", temperature=1.5
    )
    await rec.wait_final(WAIT)
    assert world.backend.requests[-1]["temperature"] == 1.5
    assert world.backend.requests[-1]["max_tokens"] == 12


async def test_anyone_can_list_show_and_autocomplete(world: World) -> None:
    """Members without Manage Server may list, show and pick presets."""
    fake = world.fake
    await answer(await fake.slash("preset create", member="admin", name="poem", temperature=1.1))
    await answer(await fake.slash("preset create", member="admin", name="code", temperature=0))

    listing = await answer(await fake.slash("preset list", member="alice"))
    assert "`code`" in listing and "`poem`" in listing
    shown = await answer(await fake.slash("preset show", member="alice", name="poem"))
    assert "`temperature` 1.1" in shown
    choices = await fake.autocomplete("preset show", "name", "po", member="alice")
    assert [c["value"] for c in choices] == ["poem"]
    choices = await fake.autocomplete("complete", "preset", "", member="alice")
    assert [c["value"] for c in choices] == ["code", "poem"]


async def test_member_without_manage_server_is_refused_at_run_time(world: World) -> None:
    """alice (no Manage Server) cannot create, edit, delete or set a channel's preset."""
    fake = world.fake
    await answer(await fake.slash("preset create", member="admin", name="poem", temperature=1))
    attempts = [
        ("preset create", {"name": "mine", "temperature": 2}),
        ("preset edit", {"name": "poem", "temperature": 0}),
        ("preset delete", {"name": "poem"}),
        ("preset channel", {"name": "poem"}),
    ]
    for command, options in attempts:
        refusal = await answer(await fake.slash(command, options, member="alice"))
        assert "permission" in refusal and "Manage" in refusal, refusal
    shown = await answer(await fake.slash("preset show", member="alice", name="poem"))
    assert "`temperature` 1" in shown
    listing = await answer(await fake.slash("preset list", member="alice"))
    assert "mine" not in listing


async def test_channel_default_preset_applies_to_complete(world: World) -> None:
    """/preset channel makes /complete in that channel use the preset's values."""
    fake = world.fake
    await answer(await fake.slash("preset create", member="admin", name="short", max_tokens=3))
    said = await answer(await fake.slash("preset channel", member="admin", name="short"))
    assert "now uses preset `short`" in said
    await (await fake.slash("complete", member="alice", prompt="Hi")).wait_final(WAIT)
    assert world.backend.requests[-1]["max_tokens"] == 3

    await answer(await fake.slash("preset channel", member="admin"))
    await (await fake.slash("complete", member="alice", prompt="Hi")).wait_final(WAIT)
    assert world.backend.requests[-1]["max_tokens"] != 3

    history = await answer(await fake.slash("settings history", member="admin"))
    channel = fake.guild.channel("general").id
    assert history.splitlines()[1].endswith(f"<#{channel}> preset: short → none")
    assert history.splitlines()[2].endswith(f"<#{channel}> preset: none → short")


async def test_edit_and_delete(world: World) -> None:
    """Edit changes only the given fields; delete removes the preset for /complete."""
    fake = world.fake
    await answer(await fake.slash("preset create", member="admin", name="p", temperature=1, seed=5))
    edited = await answer(
        await fake.slash("preset edit", member="admin", name="p", top_p=0.5, clear="seed")
    )
    assert edited == "Updated `p`: temperature 1, top_p 0.5."
    deleted = await answer(await fake.slash("preset delete", member="admin", name="p"))
    assert deleted.startswith("Deleted preset `p`")
    rec = await fake.slash("complete", member="alice", prompt="x", preset="p")
    refusal = await answer(rec)
    assert "preset 'p' does not exist on this server" in refusal


async def test_bad_preset_values_get_one_sentence(world: World) -> None:
    """A bad name or value is answered with one ephemeral sentence, nothing stored."""
    fake = world.fake
    bad_name = await answer(
        await fake.slash("preset create", member="admin", name="no spaces", temperature=1)
    )
    assert bad_name.startswith("preset name 'no spaces' is not allowed")
    # The options carry the table's ranges, so Discord refuses temperature 3.5 itself.
    with pytest.raises(OptionError, match="temperature"):
        await fake.slash("preset create", member="admin", name="hot", temperature=3.5)
    bad_value = await answer(
        await fake.slash("preset create", member="admin", name="hot", n=3, best_of=2)
    )
    assert bad_value == "best_of 2 is less than n 3: use a best_of from 3 to 20, or leave it out."
    listing = await answer(await fake.slash("preset list", member="admin"))
    assert "no presets yet" in listing


async def test_one_server_cannot_see_or_use_anothers_presets(world: World) -> None:
    """Server B's members cannot list, show, autocomplete or use server A's preset."""
    fake, other = world.fake, world.other
    await answer(await fake.slash("preset create", member="admin", name="secret", seed=1))

    listing = await answer(await fake.slash("preset list", guild=other, member="bob"))
    assert "secret" not in listing
    shown = await answer(await fake.slash("preset show", guild=other, member="bob", name="secret"))
    assert "no preset named 'secret' on this server" in shown
    assert await fake.autocomplete("complete", "preset", "se", guild=other, member="bob") == []
    used = await answer(
        await fake.slash("complete", guild=other, member="bob", prompt="x", preset="secret")
    )
    assert "does not exist on this server" in used
    # Server B may have its own preset of the same name, with its own values.
    await answer(
        await fake.slash("preset create", guild=other, member="bob", name="secret", seed=2)
    )
    await (
        await fake.slash("complete", guild=other, member="bob", prompt="x", preset="secret")
    ).wait_final(WAIT)
    assert world.backend.requests[-1]["seed"] == 2


async def test_preset_values_reach_the_real_model_server(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """With the real local model: a preset's values are sent and a completion comes back."""
    await answer(
        await fake.slash(
            "preset create", member="admin", name="tiny", max_tokens=4, temperature=0, seed=7
        )
    )
    rec = await fake.slash("complete", member="alice", prompt="The sky is", preset="tiny")
    message = await rec.wait_final(120.0)
    sent = recorder.completions()[-1]
    assert (sent["max_tokens"], sent["temperature"], sent["seed"]) == (4, 0.0, 7)
    assert not int(message.get("flags") or 0) & EPHEMERAL
    assert message["content"].strip()
