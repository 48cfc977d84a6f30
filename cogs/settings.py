"""/settings show|set|reset|history: a server's defaults and limits for /complete.

Thin adapter over `bot.server_settings` and `bot.parameters`. The whole group
is hidden from members without Manage Server (Discord's default permissions);
changing commands also check the permission at run time, since a server can
grant the command to anyone in its Integrations settings.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.command_helpers import manage_guild_check
from bot.errors import ParameterError
from bot.services.server_settings import SETTINGS, ServerConfig, format_value
from bot.tree import reply_ephemeral as reply

if TYPE_CHECKING:
    from bot.app import CoupletBot
    from bot.services.parameters import ResolvedParameters
    from bot.services.server_settings import AuditRecord

log = logging.getLogger(__name__)

SETTING_CHOICES = [
    app_commands.Choice(name=f"{s.name} — {s.description}"[:100], value=s.name)
    for s in SETTINGS.values()
]


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Settings(commands.GroupCog, group_name="settings"):
    """This server's defaults and limits for /complete."""

    def __init__(self, bot: CoupletBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="show")
    async def show(self, interaction: discord.Interaction) -> None:
        """Show the values /complete uses here and where each comes from."""
        assert interaction.guild_id is not None  # guild_only
        config = await self.bot.server_settings.get(interaction.guild_id)
        try:
            effective = await self.bot.parameters.effective(
                interaction.guild_id, interaction.channel_id
            )
        except ParameterError as err:
            # e.g. the channel's preset names a model the server no longer
            # allows: still show the settings, so an admin can fix it.
            await reply(interaction, format_config(config) + f"\n-# Problem here: {err}")
            return
        await reply(interaction, format_show(config, effective))

    @app_commands.command(name="set")
    @app_commands.describe(name="The setting to change", value="Its new value")
    @app_commands.choices(name=SETTING_CHOICES)
    @manage_guild_check
    async def set_(self, interaction: discord.Interaction, name: str, value: str) -> None:
        """Change one of this server's defaults or limits (needs Manage Server)."""
        assert interaction.guild_id is not None
        before = await self.bot.server_settings.get(interaction.guild_id)
        config = await self.bot.server_settings.set(
            interaction.guild_id, name, value, interaction.user.id
        )
        text = (
            f"`{name}` is now {format_value(config.value(name))} "
            f"(was {format_value(before.value(name))})."
        )
        warning = limit_warning(config)
        await reply(interaction, text + (f"\n{warning}" if warning else ""))

    @app_commands.command(name="reset")
    @app_commands.describe(name="The setting to reset; leave out to reset every setting")
    @app_commands.choices(name=SETTING_CHOICES)
    @manage_guild_check
    async def reset(self, interaction: discord.Interaction, name: str | None = None) -> None:
        """Put one setting, or all of them, back to the default (needs Manage Server)."""
        assert interaction.guild_id is not None
        removed = await self.bot.server_settings.reset(
            interaction.guild_id, name, interaction.user.id
        )
        if not removed:
            text = (
                f"`{name}` already uses the default."
                if name
                else "Nothing to reset: this server uses every default."
            )
        elif len(removed) == 1:
            default = format_value(SETTINGS[removed[0]].default)
            text = f"`{removed[0]}` is back to the default ({default})."
        else:
            text = "Back to the defaults: " + ", ".join(f"`{n}`" for n in removed) + "."
        await reply(interaction, text)

    @app_commands.command(name="history")
    @app_commands.describe(count="How many changes to show (newest first)")
    async def history(
        self, interaction: discord.Interaction, count: app_commands.Range[int, 1, 25] = 10
    ) -> None:
        """Who changed what, and when: settings and presets, newest first."""
        assert interaction.guild_id is not None
        records = await self.bot.server_settings.history(interaction.guild_id, count)
        await reply(interaction, format_history(records))


def format_show(config: ServerConfig, effective: ResolvedParameters) -> str:
    """Effective values with their sources, then behaviour and limits."""
    lines = ["**What /complete uses here** (an option or preset overrides these):"]
    for name, value in sorted(effective.params.items()):
        source = effective.sources.get(name, "")
        lines.append(f"`{name}` {format_value(value)} — {source}")
    if "model" not in effective.params:
        lines.append("`model` the backend's default — bot default")
    lines.extend(_limit_lines(config))
    lines.extend(f"-# {note}" for note in effective.clamped)
    lines.append("-# Change with /settings set, undo with /settings reset.")
    return "\n".join(lines)


def format_config(config: ServerConfig) -> str:
    """The server's own defaults, then behaviour and limits (no presets involved)."""
    lines = ["**Server defaults:**"]
    own = [
        f"`{s.name}` {format_value(config.value(s.name))}"
        for s in SETTINGS.values()
        if s.kind == "default" and config.is_set(s.name)
    ]
    lines.extend(own or ["none: the bot's defaults apply"])
    lines.extend(_limit_lines(config))
    return "\n".join(lines)


def _limit_lines(config: ServerConfig) -> list[str]:
    lines = ["**Behaviour and limits:**"]
    for setting in SETTINGS.values():
        if setting.kind == "default":
            continue
        value = config.value(setting.name)
        if setting.name == "allowed_models":
            shown = ", ".join(value) if value else "any model"
        else:
            shown = format_value(value)
        where = "server" if config.is_set(setting.name) else "default"
        lines.append(f"`{setting.name}` {shown} — {where}")
    return lines


def limit_warning(config: ServerConfig) -> str | None:
    """A note when a default exceeds its limit (it will be lowered at use)."""
    max_tokens = config.values.get("max_tokens")
    if max_tokens is not None and max_tokens > config.max_tokens_limit:
        return (
            f"-# Note: max_tokens {max_tokens} is above max_tokens_limit "
            f"{config.max_tokens_limit}, so completions are lowered to {config.max_tokens_limit}."
        )
    return None


def format_history(records: list[AuditRecord]) -> str:
    """One line per change: when, who, what."""
    if not records:
        return "No changes yet: this server uses the defaults."
    lines = ["**Recent changes** (newest first):"]
    for record in records:
        when = discord.utils.format_dt(record.at, "R")
        summary = record.summary()
        if record.action == "channel_preset.set":
            summary = summary.replace(f"channel {record.target}", f"<#{record.target}>", 1)
        lines.append(f"{when} <@{record.actor_id}> {summary}")
    return "\n".join(lines)


async def setup(bot: CoupletBot) -> None:
    await bot.add_cog(Settings(bot))
