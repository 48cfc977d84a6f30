"""/models: what the backend serves, and which of it this server allows."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.command_helpers import localized
from bot.i18n import _, join, render
from bot.tree import NO_MENTIONS, interaction_locale

if TYPE_CHECKING:
    from bot.app import CoupletBot

log = logging.getLogger(__name__)

MAX_LISTED = 50


class Models(commands.Cog):
    """Lists the backend's models."""

    def __init__(self, bot: CoupletBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="models", description=localized(_("List the models the backend serves."))
    )
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
            format_models(names, profile.name, allowed, default, interaction_locale(interaction)),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )


def format_models(
    names: list[str],
    backend: str,
    allowed: tuple[str, ...],
    default: str | None,
    locale: str | None = None,
) -> str:
    """A short list: one model per line, marking the default and the server's allowed ones."""
    if not names:
        return render(_("{backend} lists no models.", backend=backend), locale)
    lines = [render(_("Models on {backend}:", backend=backend), locale)]
    for name in names[:MAX_LISTED]:
        marks = []
        if name == default:
            marks.append(_("default"))
        if allowed and name in allowed:
            marks.append(_("allowed here"))
        shown = f"`{name}`"
        if marks:
            shown = render(_("{name} ({marks})", name=shown, marks=join(marks)), locale)
        lines.append(f"• {shown}")
    if len(names) > MAX_LISTED:
        lines.append(render(_("…and {count} more.", count=len(names) - MAX_LISTED), locale))
    if allowed:
        only = _("This server lets members pick only: {names}", names=join(allowed))
        lines.append("-# " + render(only, locale))
    return "\n".join(lines)


async def setup(bot: CoupletBot) -> None:
    await bot.add_cog(Models(bot))
