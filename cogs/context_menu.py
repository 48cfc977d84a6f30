"""The message context menu "Continue with Couplet": the message's text as the prompt."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.command_helpers import localized
from bot.i18n import _
from bot.tree import reply_ephemeral

if TYPE_CHECKING:
    from bot.app import CoupletBot

log = logging.getLogger(__name__)

# The menu's name is what members see on a message: Discord shows it in their language.
MENU_NAME = _("Continue with Couplet")
NO_TEXT = _("That message has no text to continue: pick a message with some text in it.")
NOT_LOADED = _("Completions are not loaded; try again in a moment.")


def message_prompt(message: discord.Message) -> str:
    """The text of a message: its content, else its embeds' text."""
    if message.content.strip():
        return message.content
    parts: list[str] = []
    for embed in message.embeds:
        parts.extend(p for p in (embed.title, embed.description) if p)
    return "\n\n".join(parts)


class ContextMenu(commands.Cog):
    """Registers the message context menu (cogs cannot declare these with a decorator)."""

    def __init__(self, bot: CoupletBot) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(
            name=localized(MENU_NAME, limit=32), callback=self.continue_message
        )

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    async def continue_message(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        prompt = message_prompt(message)
        if not prompt.strip():
            await reply_ephemeral(interaction, NO_TEXT)
            return
        completions = self.bot.get_cog("Completions")
        if completions is None:
            await reply_ephemeral(interaction, NOT_LOADED)
            return
        await completions.respond(interaction, prompt, {}, None, False)  # type: ignore[attr-defined]


async def setup(bot: CoupletBot) -> None:
    await bot.add_cog(ContextMenu(bot))
