"""/settings end to end: emulator, real bot, and a loopback backend recording requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox import FakeDiscord, OptionError
from bot.sandbox.permissions import MANAGE_GUILD
from tests.e2e.conftest import (
    StubbedCouplet,
    body_and_footer,
    couplet_on_stub,
    ephemeral_answer,
    start_couplet,
)

WAIT = 30.0
World = StubbedCouplet


@pytest.fixture
async def world(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[World]:
    """The real bot on a stub backend; `mod` has Manage Server only, alice nothing."""
    fake.guild.add_member("mod", permissions=MANAGE_GUILD)
    async with couplet_on_stub(fake, tmp_path / "couplet.db") as stubbed:
        yield stubbed


async def answer(rec: Any) -> str:
    """The text of the interaction's final message, checked to be ephemeral."""
    return await ephemeral_answer(rec, WAIT)


async def test_set_reaches_the_backend_and_show_names_the_source(world: World) -> None:
    """A server default set with /settings set is sent with /complete and shown with its source."""
    fake = world.fake
    said = await answer(
        await fake.slash("settings set", member="mod", name="temperature", value="0.25")
    )
    assert said == "`temperature` is now 0.25 (was default)."
    await (await fake.slash("complete", member="alice", prompt="Hello")).wait_final(WAIT)
    assert world.backend.requests[-1]["temperature"] == 0.25

    shown = await answer(await fake.slash("settings show", member="mod"))
    assert "`temperature` 0.25 — server" in shown
    assert "`max_tokens_limit` 1024 — default" in shown


async def test_limit_clamps_and_the_reply_says_so(world: World) -> None:
    """With max_tokens_limit 5, max_tokens 50 is sent as 5 and the reply reports it."""
    fake = world.fake
    await answer(await fake.slash("settings set", member="mod", name="max_tokens_limit", value="5"))
    rec = await fake.slash("complete", member="alice", prompt="Hello", max_tokens=50)
    message = await rec.wait_final(WAIT)
    assert world.backend.requests[-1]["max_tokens"] == 5
    assert "max_tokens 50 was lowered to the server limit of 5." in message["content"]


async def test_member_without_manage_server_is_refused_at_run_time(world: World) -> None:
    """alice can't change settings even when Discord lets her run the command."""
    fake = world.fake
    for command, options in (
        ("settings set", {"name": "temperature", "value": "2"}),
        ("settings reset", {}),
    ):
        refusal = await answer(await fake.slash(command, options, member="alice"))
        assert "permission" in refusal and "Manage" in refusal, refusal
    config = await world.run.bot.server_settings.get(fake.guild.id)
    assert config.values == {}
    history = await answer(await fake.slash("settings history", member="mod"))
    assert history == "No changes yet: this server uses the defaults."


async def test_settings_are_hidden_from_members_by_default(world: World) -> None:
    """/settings is synced with default_member_permissions = Manage Server."""
    fake = world.fake
    definition = next(c for c in fake.commands() if c["name"] == "settings")
    assert int(definition["default_member_permissions"]) == MANAGE_GUILD
    fake.enforce_default_permissions = True
    with pytest.raises(OptionError, match="cannot see /settings"):
        await fake.slash("settings show", member="alice")
    await answer(await fake.slash("settings show", member="mod"))


async def test_bad_value_gets_one_sentence(world: World) -> None:
    """A bad setting value is answered with one ephemeral sentence naming it."""
    fake = world.fake
    said = await answer(await fake.slash("settings set", member="mod", name="top_p", value="lots"))
    assert said == "top_p 'lots' is not a number: use a number from 0 to 1."


async def test_reset_and_history(world: World) -> None:
    """History lists who changed what; reset goes back to the default."""
    fake = world.fake
    await answer(await fake.slash("settings set", member="mod", name="stream", value="on"))
    await answer(await fake.slash("settings set", member="admin", name="n_limit", value="2"))
    reset = await answer(await fake.slash("settings reset", member="mod", name="stream"))
    assert reset == "`stream` is back to the default (off)."
    history = await answer(await fake.slash("settings history", member="alice"))
    lines = history.splitlines()[1:]
    mod = fake.guild.member("mod").id
    admin = fake.guild.member("admin").id
    assert lines[0].endswith(f"<@{mod}> reset stream (was on)")
    assert lines[1].endswith(f"<@{admin}> set n_limit: default → 2")
    assert lines[2].endswith(f"<@{mod}> set stream: default → on")
    everything = await answer(await fake.slash("settings reset", member="admin"))
    assert everything == "`n_limit` is back to the default (4)."


async def test_settings_survive_a_restart(world: World, fake: FakeDiscord) -> None:
    """After the bot restarts on the same database, the server's defaults still apply."""
    await answer(await fake.slash("settings set", member="mod", name="max_tokens", value="9"))
    await world.run.bot.close()
    async with start_couplet(fake, world.settings, wait_sync=False):
        await (await fake.slash("complete", member="alice", prompt="Hello")).wait_final(WAIT)
    assert world.backend.requests[-1]["max_tokens"] == 9


async def test_show_still_works_when_the_channel_preset_is_unusable(world: World) -> None:
    """If the channel's preset names a model no longer allowed, show says so and still lists."""
    fake = world.fake
    await answer(
        await fake.slash("settings set", member="mod", name="allowed_models", value="tiny")
    )
    created = await answer(
        await fake.slash("preset create", member="mod", name="big", model="huge")
    )
    assert "Note: model huge is not in this server's allowed_models (tiny)" in created
    await answer(await fake.slash("preset channel", member="mod", name="big"))
    shown = await answer(await fake.slash("settings show", member="mod"))
    assert "`allowed_models` tiny — server" in shown
    assert "Problem here: model 'huge' is not allowed on this server" in shown


async def test_show_on_a_new_server_lists_every_default_and_its_source(world: World) -> None:
    """A new server sees every default it can set, with the value /complete really sends."""
    fake = world.fake
    shown = await answer(await fake.slash("settings show", member="mod"))
    assert shown.splitlines()[1:10] == [
        "`model` the backend's first model — bot default",
        "`max_tokens` 256 — bot default",
        "`temperature` 1 — API default",
        "`top_p` 1 — API default",
        "`stop` none — API default",
        "`echo` off — API default",
        "`logprobs` none — API default",
        "`presence_penalty` 0 — API default",
        "`frequency_penalty` 0 — API default",
    ]
    await (await fake.slash("complete", member="alice", prompt="Hello")).wait_final(WAIT)
    sent = world.backend.requests[-1]
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"]) == (256, 1, 1)
    assert sent["model"] == "stub-model"  # the first (only) model the backend lists
    assert not {"stop", "echo", "logprobs"} & set(sent)
    assert sent.get("presence_penalty", 0) == sent.get("frequency_penalty", 0) == 0


async def test_show_names_server_and_channel_preset_sources(world: World) -> None:
    """Server settings and the channel's preset are shown as such, and are what gets sent."""
    fake = world.fake
    await answer(await fake.slash("settings set", member="mod", name="temperature", value="0.3"))
    await answer(
        await fake.slash(
            "preset create", member="mod", name="warm", top_p=0.5, seed=7, max_tokens=40
        )
    )
    await answer(await fake.slash("preset channel", member="mod", name="warm"))
    lines = (await answer(await fake.slash("settings show", member="mod"))).splitlines()
    for line in (
        "`temperature` 0.3 — server",
        "`top_p` 0.5 — channel preset",
        "`max_tokens` 40 — channel preset",
        "`seed` 7 — channel preset",  # not a server default, but the preset sets it
        "`presence_penalty` 0 — API default",
        "-# This channel's preset is `warm`.",
    ):
        assert line in lines, (line, lines)
    await (await fake.slash("complete", member="alice", prompt="Hello")).wait_final(WAIT)
    sent = world.backend.requests[-1]
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"], sent["seed"]) == (
        0.3,
        0.5,
        40,
        7,
    )


async def test_show_fits_one_message_with_every_value_at_its_longest(world: World) -> None:
    """Long models, stops and a full channel preset still fit: every line, within 2000."""
    fake = world.fake
    models = ",".join(f"{i:02d}" + "m" * 98 for i in range(25))
    long_stop = "|".join(["😀" * 90] * 4)
    for name, value in (
        ("allowed_models", models),
        ("stop", long_stop),
        ("max_tokens_limit", "1"),
        ("n_limit", "1"),
        ("best_of_limit", "1"),
        ("stream", "on"),
        ("sampling", "server"),
    ):
        await answer(await fake.slash("settings set", member="mod", name=name, value=value))
    preset = "p" * 32
    bias = ", ".join(f"{i}=-100" for i in range(200)) + ", " + "w" * 50 + "=5"
    created = await answer(
        await fake.slash(
            "preset create",
            member="mod",
            name=preset,
            model="😀" * 100,  # not allowed: show names the problem
            suffix="😀" * 500,
            max_tokens=65536,
            temperature=1.23456789,
            top_p=0.123456789,
            n=20,
            best_of=20,
            stop=long_stop,
            echo=True,
            logprobs=20,
            presence_penalty=-1.23456789,
            frequency_penalty=1.23456789,
            logit_bias=bias,
            seed=4294967294,
        )
    )
    assert created.startswith(f"Created preset `{preset}`"), created
    await answer(await fake.slash("preset channel", member="mod", name=preset))
    shown = await answer(await fake.slash("settings show", member="mod"))
    assert len(shown.encode("utf-16-le")) // 2 <= 2000
    assert shown.endswith("-# Change with /settings set, undo with /settings reset.")
    names = [line.split("`")[1] for line in shown.splitlines() if line.startswith("`")]
    assert names == [
        "model", "max_tokens", "temperature", "top_p", "stop", "echo", "logprobs",
        "presence_penalty", "frequency_penalty", "suffix", "n", "best_of", "logit_bias", "seed",
        "clean_mode", "stream", "limits_exempt_managers", "language", "sampling",
        "max_tokens_limit",
        "n_limit", "best_of_limit", "allowed_models",
    ]  # fmt: skip
    assert "-# max_tokens 65536 was lowered to the server limit of 1." in shown
    assert "-# Problem here: model '" in shown


async def test_sampling_server_leaves_the_backends_samplers_on_and_says_so(world: World) -> None:
    """sampling: api (default) switches the backend's top_k off; server leaves it on, and
    /settings show and the reply's footer say so."""
    fake = world.fake
    shown = await answer(await fake.slash("settings show", member="mod"))
    assert "`sampling` api — default" in shown
    first = await (await fake.slash("complete", member="alice", prompt="Hello")).wait_final(WAIT)
    assert world.backend.requests[-1]["top_k"] == 0  # the stub is a llama-cpp-python profile
    assert "sampling is server" not in first["content"]

    said = await answer(
        await fake.slash("settings set", member="mod", name="sampling", value="Server")
    )
    assert said == "`sampling` is now server (was api)."
    shown = await answer(await fake.slash("settings show", member="mod"))
    assert "`sampling` server — server" in shown
    rec = await fake.slash("complete", member="alice", prompt="Hello")
    _, footer = body_and_footer((await rec.wait_final(WAIT))["content"])
    assert "top_k" not in world.backend.requests[-1]
    assert footer[1:] == [
        "sampling is server: llama-cpp-python's own samplers apply as well "
        "(top_k 40, min_p 0.05 and repeat_penalty 1.1)."
    ]


async def test_bad_sampling_mode_gets_one_sentence(world: World) -> None:
    """A sampling value other than api or server is refused, naming both."""
    said = await answer(
        await world.fake.slash("settings set", member="mod", name="sampling", value="both")
    )
    assert said == (
        "sampling 'both' is not a sampling mode: use api (only the API's samplers) or server "
        "(the backend's own samplers too)."
    )
