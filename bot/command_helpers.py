"""Helpers the command cogs share: the Manage Server check, options, preset autocomplete."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

if TYPE_CHECKING:
    from bot.services.presets import PresetService

log = logging.getLogger(__name__)

# Discord drops an autocomplete answer that comes after 3 seconds.
AUTOCOMPLETE_TIMEOUT = 2.0
MAX_CHOICES = 25

# Enforced at run time; MissingPermissions becomes an ephemeral sentence in
# the tree's error handler (bot/tree.py).
manage_guild_check = app_commands.checks.has_permissions(manage_guild=True)


def given_options(values: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The options among `names` that the user gave (not None), in `values`' order.

    Commands pass `locals()`: discord.py needs every option as a parameter of
    its own, and this keeps the list of names in one place.
    """
    wanted = set(names)
    return {k: v for k, v in values.items() if k in wanted and v is not None}


async def preset_choices(
    presets: PresetService, interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Autocomplete: this server's preset names matching what was typed."""
    if interaction.guild_id is None:
        return []
    try:
        names = await asyncio.wait_for(
            presets.names(interaction.guild_id, current), AUTOCOMPLETE_TIMEOUT
        )
    except Exception:
        log.warning("preset autocomplete failed", exc_info=True)
        return []
    return [app_commands.Choice(name=name, value=name) for name in names[:MAX_CHOICES]]
