"""Command sync per DISCORD_SYNC, the command tree within Discord's limits, preset autocomplete."""

from __future__ import annotations

from pathlib import Path

from bot.sandbox import FakeDiscord
from bot.sandbox.command_rules import command_size
from tests.e2e.conftest import RecordingProxy, make_settings, start_couplet
from tests.support.discord_env import BotRun


def command_puts(fake: FakeDiscord) -> list[str]:
    return [r for r in fake.requests if r.startswith("PUT ") and r.endswith("/commands")]


async def test_tree_fits_discord_limits(fake: FakeDiscord, couplet: BotRun) -> None:
    """Every command, option and description the bot syncs fits Discord's documented limits."""
    commands = fake.commands()
    names = {c["name"] for c in commands}
    assert {"complete", "models", "Continue with Couplet"} <= names
    for command in commands:
        assert command_size(command) <= 8000  # localizations included
        if command.get("type", 1) == 1:
            assert 1 <= len(command["description"]) <= 100
        options = command.get("options") or []
        assert len(options) <= 25
        for option in options:
            assert 1 <= len(option["description"]) <= 100
    complete = next(c for c in commands if c["name"] == "complete")
    assert [o["name"] for o in complete["options"]] == [
        "prompt", "suffix", "max_tokens", "temperature", "top_p", "n", "best_of", "stop",
        "echo", "logprobs", "presence_penalty", "frequency_penalty", "logit_bias", "seed",
        "model", "preset", "private", "stream",
    ]  # fmt: skip


async def test_guild_sync_puts_commands_on_listed_servers_only(
    fake: FakeDiscord, recorder: RecordingProxy, db_path: Path
) -> None:
    """DISCORD_SYNC=guild:ID syncs to that server and not globally."""
    guild_id = fake.guild.id
    settings = make_settings(fake, db_path, recorder.base_url, discord_sync=f"guild:{guild_id}")
    async with start_couplet(fake, settings) as run:
        assert run.bot.synced_scopes == [f"guild:{guild_id}"]
        assert {c["name"] for c in fake.commands(guild_id)} >= {"complete", "models"}
        assert fake.commands() == []
        rec = await fake.slash("models")
        await rec.wait_final(30)


async def test_sync_off_never_syncs(
    fake: FakeDiscord, recorder: RecordingProxy, db_path: Path
) -> None:
    """DISCORD_SYNC=off makes no command sync request."""
    settings = make_settings(fake, db_path, recorder.base_url, discord_sync="off")
    async with start_couplet(fake, settings, wait_sync=False) as run:
        assert run.bot.synced_scopes == []
    assert command_puts(fake) == []


async def test_global_syncs_on_every_start_and_auto_only_on_change(
    fake: FakeDiscord, recorder: RecordingProxy, db_path: Path
) -> None:
    """auto skips an unchanged tree on restart; global syncs again regardless."""
    auto = make_settings(fake, db_path, recorder.base_url)
    async with start_couplet(fake, auto):
        pass
    async with start_couplet(fake, auto, wait_sync=False) as run:
        assert run.bot.synced_scopes == []
    assert len(command_puts(fake)) == 1
    forced = make_settings(fake, db_path, recorder.base_url, discord_sync="global")
    async with start_couplet(fake, forced, wait_sync=False) as run:
        assert run.bot.synced_scopes == ["global"]
    assert len(command_puts(fake)) == 2


async def test_preset_autocomplete_offers_this_servers_presets(
    fake: FakeDiscord, couplet: BotRun
) -> None:
    """Typing in preset offers the server's presets that match."""
    for name in ("poetry", "prose", "code"):
        await couplet.bot.presets.create(
            fake.guild.id, name, params={"temperature": 0.5}, actor_id=1
        )
    choices = await fake.autocomplete("complete", focused="preset", value="p")
    assert [c["value"] for c in choices] == ["poetry", "prose"]
