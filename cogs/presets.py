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
    describe,
    given_options,
    localized,
    manage_guild_check,
    parameter_options,
    preset_choices,
)
from bot.completions import GENERATION_PARAMS
from bot.completions.parameters import descriptions
from bot.i18n import _, join, render
from bot.services.server_settings import format_value
from bot.tree import interaction_locale
from bot.tree import reply_ephemeral as reply

if TYPE_CHECKING:
    from bot.app import CoupletBot
    from bot.services.presets import Preset

log = logging.getLogger(__name__)


# The preset options' descriptions, from the parameter table.
PARAM_DESCRIPTIONS = descriptions(GENERATION_PARAMS)


@app_commands.guild_only()
class Presets(
    commands.GroupCog,
    group_name="preset",
    group_description=localized(_("Named sets of /complete parameters for this server.")),
):
    """Named sets of /complete parameters for this server."""

    def __init__(self, bot: CoupletBot) -> None:
        self.bot = bot
        super().__init__()

    async def preset_names(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Autocomplete: this server's preset names matching what was typed."""
        return await preset_choices(self.bot.presets, interaction, current)

    async def model_note(self, guild_id: int, preset: Preset, locale: str) -> str:
        """A warning line when the preset's model is not one the server allows."""
        model = preset.params.get("model")
        allowed = (await self.bot.server_settings.get(guild_id)).allowed_models
        if model is None or not allowed or model in allowed:
            return ""
        note = _(
            "Note: model {model} is not in this server's allowed_models ({names}), so "
            "/complete refuses this preset until one of them changes.",
            model=model,
            names=join(allowed),
        )
        return "\n-# " + render(note, locale)

    @app_commands.command(
        name="create",
        description=localized(
            _("Save a set of /complete parameters under a name (needs Manage Server).")
        ),
    )
    @describe(
        name=_("1-32 lowercase letters, digits, - and _"),
        description=_("What the preset is for (up to 100 characters)"),
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
        locale = interaction_locale(interaction)
        created = _(
            "Created preset `{name}`: {params}.",
            name=preset.name,
            params=format_params(preset.params, locale),
        )
        use = _("Use it with /complete preset:{name}", name=preset.name)
        text = render(created, locale) + "\n-# " + render(use, locale)
        await reply(interaction, text + await self.model_note(interaction.guild_id, preset, locale))

    @app_commands.command(
        name="edit",
        description=localized(
            _("Change some parameters of a preset; the others stay (needs Manage Server).")
        ),
    )
    @describe(
        name=_("The preset to change"),
        description=_("A new description"),
        clear=_("Parameters to remove, separated by commas (e.g. stop, seed)"),
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
        locale = interaction_locale(interaction)
        if preset.version == before.version:
            text = _(
                "Nothing changed in `{name}`: give a parameter, clear or description.",
                name=preset.name,
            )
        else:
            text = _(
                "Updated `{name}`: {params}.",
                name=preset.name,
                params=format_params(preset.params, locale),
            )
        note = await self.model_note(interaction.guild_id, preset, locale)
        await reply(interaction, render(text, locale) + note)

    @app_commands.command(name="show", description=localized(_("Show a preset's parameters.")))
    @describe(name=_("The preset to show"))
    @app_commands.autocomplete(name=preset_names)
    async def show(self, interaction: discord.Interaction, name: str) -> None:
        """Show a preset's parameters."""
        assert interaction.guild_id is not None
        preset = await self.bot.presets.get(interaction.guild_id, name)
        snapshot = await self.bot.presets.snapshot(interaction.guild_id)
        channels = [c for c, p in snapshot.channels.items() if p == preset.name]
        await reply(interaction, format_preset(preset, channels, interaction_locale(interaction)))

    @app_commands.command(name="list", description=localized(_("List this server's presets.")))
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
        locale = interaction_locale(interaction)
        if not presets:
            text = render(
                _("This server has no presets yet; someone with Manage Server can /preset create."),
                locale,
            )
        else:
            heading = _(
                "**Presets** ({count}/{limit}):",
                count=len(presets),
                limit=self.bot.presets.max_presets,
            )
            lines = [render(heading, locale)]
            for preset in presets:
                name = f"`{preset.name}`"
                if preset.name == here:
                    name = render(_("{name} (this channel's default)", name=name), locale)
                about = f" — {preset.description}" if preset.description else ""
                lines.append(name + about)
            text = "\n".join(lines)
        await reply(interaction, text)

    @app_commands.command(
        name="delete", description=localized(_("Delete a preset (needs Manage Server)."))
    )
    @describe(name=_("The preset to delete"))
    @app_commands.autocomplete(name=preset_names)
    @manage_guild_check
    async def delete(self, interaction: discord.Interaction, name: str) -> None:
        """Delete a preset (needs Manage Server)."""
        assert interaction.guild_id is not None
        channels = await self.bot.presets.delete(interaction.guild_id, name, interaction.user.id)
        deleted = _("Deleted preset `{name}`.", name=name.strip().lower())
        if channels:
            deleted = _(
                "Deleted preset `{name}`. {channels} now use the server defaults.",
                name=name.strip().lower(),
                channels=join(f"<#{c}>" for c in channels),
            )
        await reply(interaction, deleted)

    @app_commands.command(
        name="channel",
        description=localized(_("Set or clear a channel's default preset (needs Manage Server).")),
    )
    @describe(
        name=_("The preset this channel uses by default; leave out to clear it"),
        channel=_("The channel (default: this one)"),
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
            text = _(
                "{channel} has no default preset now: it uses the server defaults.",
                channel=f"<#{channel_id}>",
            )
        else:
            text = _(
                "{channel} now uses preset `{name}` by default.",
                channel=f"<#{channel_id}>",
                name=preset.name,
            )
        await reply(interaction, text)


def _view(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as people typed them: token-id and word biases shown together."""
    view = {k: v for k, v in params.items() if k not in ("logit_bias", "logit_bias_words")}
    bias = {**(params.get("logit_bias") or {}), **(params.get("logit_bias_words") or {})}
    if bias:
        view["logit_bias"] = bias
    return dict(sorted(view.items()))


def format_params(params: Mapping[str, Any], locale: str | None = None) -> str:
    """`max_tokens 60, temperature 0.9`."""
    shown = [f"{k} {render(format_value(v), locale)}" for k, v in _view(params).items()]
    return render(join(shown) if shown else _("nothing"), locale)


def format_preset(preset: Preset, channels: list[int], locale: str | None = None) -> str:
    """A preset's description, parameters, authorship and channels."""
    about = f" — {preset.description}" if preset.description else ""
    lines = [render(_("**Preset `{name}`**", name=preset.name), locale) + about]
    lines.extend(
        f"`{k}` {render(format_value(v), locale)}" for k, v in _view(preset.params).items()
    )
    made = _(
        "Created by {creator} {created}; last changed by {editor} {updated}.",
        creator=f"<@{preset.created_by}>",
        created=discord.utils.format_dt(preset.created_at, "R"),
        editor=f"<@{preset.updated_by}>",
        updated=discord.utils.format_dt(preset.updated_at, "R"),
    )
    lines.append("-# " + render(made, locale))
    if channels:
        default_in = _("Default in {channels}.", channels=join(f"<#{c}>" for c in channels))
        lines.append("-# " + render(default_in, locale))
    return "\n".join(lines)


async def setup(bot: CoupletBot) -> None:
    await bot.add_cog(Presets(bot))
