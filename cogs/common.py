"""Helpers several cogs share. Not a cog itself: it has no `setup`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import discord
from discord import app_commands

from bot.render.text import MESSAGE_LIMIT

NO_MENTIONS = discord.AllowedMentions.none()

# Enforced at run time; MissingPermissions becomes an ephemeral sentence in
# the tree's error handler (bot/tree.py).
manage_guild_check = app_commands.checks.has_permissions(manage_guild=True)


async def reply(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral answer that pings nobody."""
    if len(text) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - 1] + "…"
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    else:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


def given_options(values: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The options among `names` that the user gave (not None), in `values`' order.

    Commands pass `locals()`: discord.py needs every option as a parameter of
    its own, and this keeps the list of names in one place.
    """
    wanted = set(names)
    return {k: v for k, v in values.items() if k in wanted and v is not None}
