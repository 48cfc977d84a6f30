"""/models: what the backend serves, and which of it this server allows."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

if TYPE_CHECKING:
    from bot.app import CoupletBot

log = logging.getLogger(__name__)

MAX_LISTED = 50


class Models(commands.Cog):
    """Lists the backend's models."""

    def __init__(self, bot: CoupletBot) -> None:
        self.bot = bot

    @app_commands.command(name="models", description="List the models the backend serves.")
    async def models(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True, ephemeral=True)
        names = await self.bot.completions.list_models()
        profile = await self.bot.completions.profile()
        allowed: tuple[str, ...] = ()
        if interaction.guild_id is not None:
            config = await self.bot.server_settings.get(interaction.guild_id)
            allowed = tuple(config.allowed_models)
        default = self.bot.settings.completions_model
        await interaction.followup.send(
            format_models(names, profile.name, allowed, default),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )


def format_models(
    names: list[str], backend: str, allowed: tuple[str, ...], default: str | None
) -> str:
    """A short list: one model per line, marking the default and the server's allowed ones."""
    if not names:
        return f"The {backend} backend lists no models."
    lines = [f"Models on the {backend} backend:"]
    for name in names[:MAX_LISTED]:
        marks = []
        if name == default:
            marks.append("default")
        if allowed and name in allowed:
            marks.append("allowed here")
        lines.append(f"• `{name}`" + (f" ({', '.join(marks)})" if marks else ""))
    if len(names) > MAX_LISTED:
        lines.append(f"…and {len(names) - MAX_LISTED} more.")
    if allowed:
        lines.append("-# This server lets members pick only: " + ", ".join(allowed))
    return "\n".join(lines)


async def setup(bot: CoupletBot) -> None:
    await bot.add_cog(Models(bot))
