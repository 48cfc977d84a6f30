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

from bot.command_helpers import choice, describe, localized, manage_guild_check
from bot.i18n import Localized, Msg, _, join, render
from bot.render.text import cut_units, ulen
from bot.services.parameters import ShownValue, shown_defaults
from bot.services.server_settings import SETTINGS, ServerConfig, format_value
from bot.tree import interaction_locale
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
    choice(_("{name} — {description}", name=s.name, description=s.description), s.name)
    for s in SETTINGS.values()
]

# Where a value comes from, as /settings show says it (the resolver's source labels).
SOURCES: dict[str, Msg] = {
    "API default": _("API default"),
    "bot default": _("bot default"),
    "server": _("server"),
    "default": _("default"),
    "option": _("option"),
    "preset": _("preset"),
    "channel preset": _("channel preset"),
}


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Settings(
    commands.GroupCog,
    group_name="settings",
    group_description=localized(_("This server's defaults and limits for /complete.")),
):
    """This server's defaults and limits for /complete."""

    def __init__(self, bot: CoupletBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(
        name="show",
        description=localized(_("Show the values /complete uses here and where each comes from.")),
    )
    async def show(self, interaction: discord.Interaction) -> None:
        """Show the values /complete uses here and where each comes from."""
        assert interaction.guild_id is not None  # guild_only
        config = await self.bot.server_settings.get(interaction.guild_id)
        effective = await self.bot.parameters.effective(
            interaction.guild_id, interaction.channel_id
        )
        locale = interaction_locale(interaction)
        default_model = self.bot.generation.default_model
        await reply(interaction, format_show(config, effective, default_model, locale))

    @app_commands.command(
        name="set",
        description=localized(
            _("Change one of this server's defaults or limits (needs Manage Server).")
        ),
    )
    @describe(name=_("The setting to change"), value=_("Its new value"))
    @app_commands.choices(name=SETTING_CHOICES)
    @manage_guild_check
    async def set_(self, interaction: discord.Interaction, name: str, value: str) -> None:
        """Change one of this server's defaults or limits (needs Manage Server)."""
        assert interaction.guild_id is not None
        before = await self.bot.server_settings.get(interaction.guild_id)
        config = await self.bot.server_settings.set(
            interaction.guild_id, name, value, interaction.user.id
        )
        text = _(
            "`{name}` is now {value} (was {old}).",
            name=name,
            value=format_value(config.value(name)),
            old=format_value(before.value(name)),
        )
        locale = interaction_locale(interaction)
        warning = limit_warning(config)
        said = render(text, locale)
        if warning is not None:
            said += "\n-# " + render(warning, locale)
        await reply(interaction, said)

    @app_commands.command(
        name="reset",
        description=localized(
            _("Put one setting, or all of them, back to the default (needs Manage Server).")
        ),
    )
    @describe(name=_("The setting to reset; leave out to reset every setting"))
    @app_commands.choices(name=SETTING_CHOICES)
    @manage_guild_check
    async def reset(self, interaction: discord.Interaction, name: str | None = None) -> None:
        """Put one setting, or all of them, back to the default (needs Manage Server)."""
        assert interaction.guild_id is not None
        removed = await self.bot.server_settings.reset(
            interaction.guild_id, name, interaction.user.id
        )
        text: Msg
        if not removed:
            text = (
                _("`{name}` already uses the default.", name=name)
                if name
                else _("Nothing to reset: this server uses every default.")
            )
        elif len(removed) == 1:
            default = format_value(SETTINGS[removed[0]].default)
            text = _("`{name}` is back to the default ({value}).", name=removed[0], value=default)
        else:
            text = _("Back to the defaults: {names}.", names=join(f"`{n}`" for n in removed))
        await reply(interaction, text)

    @app_commands.command(
        name="history",
        description=localized(_("Who changed what, and when: settings and presets, newest first.")),
    )
    @describe(count=_("How many changes to show (newest first)"))
    async def history(
        self, interaction: discord.Interaction, count: app_commands.Range[int, 1, 25] = 10
    ) -> None:
        """Who changed what, and when: settings and presets, newest first."""
        assert interaction.guild_id is not None
        records = await self.bot.server_settings.history(interaction.guild_id, count)
        await reply(interaction, format_history(records, interaction_locale(interaction)))


def format_show(
    config: ServerConfig,
    effective: ResolvedParameters,
    default_model: str | None,
    locale: str | None = None,
) -> str:
    """Every default with its effective value and source, then behaviour and limits."""

    def say(text: str | Localized) -> str:
        return render(text, locale)

    lines = [say(_("**What /complete uses here** (an option or a chosen preset overrides these):"))]
    for row in shown_defaults(effective, default_model):
        source = row.source.split(":", 1)[0]  # the channel's preset is named below
        lines.append(f"`{row.name}` {say(_shown_value(row))} — {say(SOURCES.get(source, source))}")
    if effective.preset:
        lines.append("-# " + say(_("This channel's preset is `{name}`.", name=effective.preset)))
    lines.extend(_limit_lines(config, locale))
    lines.extend(f"-# {say(note)}" for note in effective.clamped)
    if effective.problem:
        problem = _short(say(effective.problem), PROBLEM_WIDTH)
        lines.append("-# " + say(_("Problem here: {problem}", problem=problem)))
    lines.append("-# " + say(_("Change with /settings set, undo with /settings reset.")))
    return "\n".join(lines)


def _shown_value(row: ShownValue) -> str | Localized:
    if row.value is None:
        return _("the backend's first model") if row.name == "model" else _("none")
    return _Short(format_value(row.value))


class _Short(Localized):
    """A value cut to VALUE_WIDTH once rendered (the cut depends on the language)."""

    def __init__(self, text: str | Localized, width: int = VALUE_WIDTH) -> None:
        self.text, self.width = text, width

    def render(self, locale: str | None = None) -> str:
        return _short(render(self.text, locale), self.width)


def _short(text: str, width: int = VALUE_WIDTH) -> str:
    """At most `width` UTF-16 units (as Discord counts), so that every line fits one message."""
    return text if ulen(text) <= width else cut_units(text, width - 1) + "…"


def _limit_lines(config: ServerConfig, locale: str | None = None) -> list[str]:
    lines = [render(_("**Behaviour and limits:**"), locale)]
    for setting in SETTINGS.values():
        if setting.kind == "default":
            continue
        value = config.value(setting.name)
        shown: str | Localized
        if setting.name == "allowed_models":
            shown = _Short(join(value)) if value else _("any model")
        else:
            shown = format_value(value)
        where = SOURCES["server"] if config.is_set(setting.name) else SOURCES["default"]
        lines.append(f"`{setting.name}` {render(shown, locale)} — {render(where, locale)}")
    return lines


def limit_warning(config: ServerConfig) -> Msg | None:
    """A note when a default exceeds its limit (it will be lowered at use)."""
    max_tokens = config.values.get("max_tokens")
    if max_tokens is not None and max_tokens > config.max_tokens_limit:
        return _(
            "Note: max_tokens {value} is above max_tokens_limit {limit}, so completions "
            "are lowered to {limit}.",
            value=max_tokens,
            limit=config.max_tokens_limit,
        )
    return None


def format_history(records: list[AuditRecord], locale: str | None = None) -> str:
    """One line per change: when, who, what."""
    if not records:
        return render(_("No changes yet: this server uses the defaults."), locale)
    lines = [render(_("**Recent changes** (newest first):"), locale)]
    for record in records:
        when = discord.utils.format_dt(record.at, "R")  # Discord shows it in the reader's language
        lines.append(f"{when} <@{record.actor_id}> {render(record.summary(), locale)}")
    return "\n".join(lines)


async def setup(bot: CoupletBot) -> None:
    await bot.add_cog(Settings(bot))
