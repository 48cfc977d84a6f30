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
from bot.render.text import cut_units, ulen
from bot.services.parameters import ShownValue, shown_defaults
from bot.services.server_settings import SETTINGS, ServerConfig, format_value
from bot.tree import reply_ephemeral as reply

if TYPE_CHECKING:
    from bot.app import CoupletBot
    from bot.services.parameters import ResolvedParameters
    from bot.services.server_settings import AuditRecord

log = logging.getLogger(__name__)

# How much of one value /settings show prints: a long stop sequence or model
# list is cut, so that every parameter and limit fits one message (2000).
VALUE_WIDTH = 48
PROBLEM_WIDTH = 240

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
        effective = await self.bot.parameters.effective(
            interaction.guild_id, interaction.channel_id
        )
        await reply(interaction, format_show(config, effective, self.bot.generation.default_model))

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


def format_show(
    config: ServerConfig, effective: ResolvedParameters, default_model: str | None
) -> str:
    """Every default with its effective value and source, then behaviour and limits."""
    lines = ["**What /complete uses here** (an option or a chosen preset overrides these):"]
    for row in shown_defaults(effective, default_model):
        source = row.source.split(":", 1)[0]  # the channel's preset is named below
        lines.append(f"`{row.name}` {_shown_value(row)} — {source}")
    if effective.preset:
        lines.append(f"-# This channel's preset is `{effective.preset}`.")
    lines.extend(_limit_lines(config))
    lines.extend(f"-# {note}" for note in effective.clamped)
    if effective.problem:
        lines.append(f"-# Problem here: {_short(effective.problem, PROBLEM_WIDTH)}")
    lines.append("-# Change with /settings set, undo with /settings reset.")
    return "\n".join(lines)


def _shown_value(row: ShownValue) -> str:
    if row.value is None:
        return "the backend's first model" if row.name == "model" else "none"
    return _short(format_value(row.value))


def _short(text: str, width: int = VALUE_WIDTH) -> str:
    """At most `width` UTF-16 units (as Discord counts), so that every line fits one message."""
    return text if ulen(text) <= width else cut_units(text, width - 1) + "…"


def _limit_lines(config: ServerConfig) -> list[str]:
    lines = ["**Behaviour and limits:**"]
    for setting in SETTINGS.values():
        if setting.kind == "default":
            continue
        value = config.value(setting.name)
        if setting.name == "allowed_models":
            shown = _short(", ".join(value)) if value else "any model"
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
