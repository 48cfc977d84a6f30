"""/preset create|edit|show|list|delete|channel: named sets of /complete parameters.

Thin adapter over `bot.presets`. Anyone may list, show and use presets;
creating, editing, deleting and setting a channel's default need Manage
Server, checked at run time. (Discord's default permissions apply to a whole
top-level command, so they cannot hide only some /preset subcommands.)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.command_helpers import (
    given_options,
    manage_guild_check,
    parameter_options,
    preset_choices,
)
from bot.completions import GENERATION_PARAMS
from bot.completions.parameters import descriptions
from bot.services.server_settings import format_value
from bot.tree import reply_ephemeral as reply

if TYPE_CHECKING:
    from bot.app import CoupletBot
    from bot.services.presets import Preset

log = logging.getLogger(__name__)


# The preset options' descriptions, from the parameter table.
PARAM_DESCRIPTIONS = descriptions(GENERATION_PARAMS)


@app_commands.guild_only()
class Presets(commands.GroupCog, group_name="preset"):
    """Named sets of /complete parameters for this server."""

    def __init__(self, bot: CoupletBot) -> None:
        self.bot = bot
        super().__init__()

    async def preset_names(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Autocomplete: this server's preset names matching what was typed."""
        return await preset_choices(self.bot.presets, interaction, current)

    async def model_note(self, guild_id: int, preset: Preset) -> str:
        """A warning line when the preset's model is not one the server allows."""
        model = preset.params.get("model")
        allowed = (await self.bot.server_settings.get(guild_id)).allowed_models
        if model is None or not allowed or model in allowed:
            return ""
        return (
            f"\n-# Note: model {model} is not in this server's allowed_models "
            f"({', '.join(allowed)}), so /complete refuses this preset until one of them changes."
        )

    @app_commands.command(name="create")
    @app_commands.describe(
        name="1-32 lowercase letters, digits, - and _",
        description="What the preset is for (up to 100 characters)",
        **PARAM_DESCRIPTIONS,
    )
    @manage_guild_check
    @parameter_options(GENERATION_PARAMS)
    async def create(
        self,
        interaction: discord.Interaction,
        name: str,
        description: str = "",
        **params: Any,
    ) -> None:
        """Save a set of /complete parameters under a name (needs Manage Server)."""
        assert interaction.guild_id is not None
        params = given_options(params, GENERATION_PARAMS)
        preset = await self.bot.presets.create(
            interaction.guild_id,
            name,
            params=params,
            description=description,
            actor_id=interaction.user.id,
        )
        text = (
            f"Created preset `{preset.name}`: {format_params(preset.params)}.\n"
            f"-# Use it with /complete preset:{preset.name}"
        )
        await reply(interaction, text + await self.model_note(interaction.guild_id, preset))

    @app_commands.command(name="edit")
    @app_commands.describe(
        name="The preset to change",
        description="A new description",
        clear="Parameters to remove, separated by commas (e.g. stop, seed)",
        **PARAM_DESCRIPTIONS,
    )
    @app_commands.autocomplete(name=preset_names)
    @manage_guild_check
    @parameter_options(GENERATION_PARAMS)
    async def edit(
        self,
        interaction: discord.Interaction,
        name: str,
        description: str | None = None,
        clear: str | None = None,
        **params: Any,
    ) -> None:
        """Change some parameters of a preset; the others stay (needs Manage Server)."""
        assert interaction.guild_id is not None
        params = given_options(params, GENERATION_PARAMS)
        before = await self.bot.presets.get(interaction.guild_id, name)
        preset = await self.bot.presets.edit(
            interaction.guild_id,
            name,
            params=params,
            unset=(clear or "").split(","),
            description=description,
            actor_id=interaction.user.id,
        )
        if preset.version == before.version:
            text = f"Nothing changed in `{preset.name}`: give a parameter, clear or description."
        else:
            text = f"Updated `{preset.name}`: {format_params(preset.params)}."
        await reply(interaction, text + await self.model_note(interaction.guild_id, preset))

    @app_commands.command(name="show")
    @app_commands.describe(name="The preset to show")
    @app_commands.autocomplete(name=preset_names)
    async def show(self, interaction: discord.Interaction, name: str) -> None:
        """Show a preset's parameters."""
        assert interaction.guild_id is not None
        preset = await self.bot.presets.get(interaction.guild_id, name)
        snapshot = await self.bot.presets.snapshot(interaction.guild_id)
        channels = [c for c, p in snapshot.channels.items() if p == preset.name]
        await reply(interaction, format_preset(preset, channels))

    @app_commands.command(name="list")
    async def list_(self, interaction: discord.Interaction) -> None:
        """List this server's presets."""
        assert interaction.guild_id is not None
        presets = await self.bot.presets.list(interaction.guild_id)
        here = None
        if interaction.channel_id is not None:
            current = await self.bot.presets.channel_preset(
                interaction.guild_id, interaction.channel_id
            )
            here = current.name if current else None
        if not presets:
            text = "This server has no presets yet; someone with Manage Server can /preset create."
        else:
            lines = [f"**Presets** ({len(presets)}/{self.bot.presets.max_presets}):"]
            for preset in presets:
                mark = " (this channel's default)" if preset.name == here else ""
                about = f" — {preset.description}" if preset.description else ""
                lines.append(f"`{preset.name}`{mark}{about}")
            text = "\n".join(lines)
        await reply(interaction, text)

    @app_commands.command(name="delete")
    @app_commands.describe(name="The preset to delete")
    @app_commands.autocomplete(name=preset_names)
    @manage_guild_check
    async def delete(self, interaction: discord.Interaction, name: str) -> None:
        """Delete a preset (needs Manage Server)."""
        assert interaction.guild_id is not None
        channels = await self.bot.presets.delete(interaction.guild_id, name, interaction.user.id)
        text = f"Deleted preset `{name.strip().lower()}`."
        if channels:
            text += " " + ", ".join(f"<#{c}>" for c in channels) + " now use the server defaults."
        await reply(interaction, text)

    @app_commands.command(name="channel")
    @app_commands.describe(
        name="The preset this channel uses by default; leave out to clear it",
        channel="The channel (default: this one)",
    )
    @app_commands.autocomplete(name=preset_names)
    @manage_guild_check
    async def channel(
        self,
        interaction: discord.Interaction,
        name: str | None = None,
        channel: discord.TextChannel | None = None,
    ) -> None:
        """Set or clear a channel's default preset (needs Manage Server)."""
        assert interaction.guild_id is not None
        channel_id = channel.id if channel is not None else interaction.channel_id
        assert channel_id is not None
        preset = await self.bot.presets.set_channel_preset(
            interaction.guild_id, channel_id, name, interaction.user.id
        )
        if preset is None:
            text = f"<#{channel_id}> has no default preset now: it uses the server defaults."
        else:
            text = f"<#{channel_id}> now uses preset `{preset.name}` by default."
        await reply(interaction, text)


def _view(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as people typed them: token-id and word biases shown together."""
    view = {k: v for k, v in params.items() if k not in ("logit_bias", "logit_bias_words")}
    bias = {**(params.get("logit_bias") or {}), **(params.get("logit_bias_words") or {})}
    if bias:
        view["logit_bias"] = bias
    return dict(sorted(view.items()))


def format_params(params: Mapping[str, Any]) -> str:
    """`max_tokens 60, temperature 0.9`."""
    return ", ".join(f"{k} {format_value(v)}" for k, v in _view(params).items()) or "nothing"


def format_preset(preset: Preset, channels: list[int]) -> str:
    """A preset's description, parameters, authorship and channels."""
    about = f" — {preset.description}" if preset.description else ""
    lines = [f"**Preset `{preset.name}`**{about}"]
    lines.extend(f"`{k}` {format_value(v)}" for k, v in _view(preset.params).items())
    created = discord.utils.format_dt(preset.created_at, "R")
    updated = discord.utils.format_dt(preset.updated_at, "R")
    lines.append(
        f"-# Created by <@{preset.created_by}> {created}; "
        f"last changed by <@{preset.updated_by}> {updated}."
    )
    if channels:
        lines.append("-# Default in " + ", ".join(f"<#{c}>" for c in channels) + ".")
    return "\n".join(lines)


async def setup(bot: CoupletBot) -> None:
    await bot.add_cog(Presets(bot))
