"""/limits show|set|role|reset: a server's usage limits and its roles' overrides.

Anyone can see them; changing them needs Manage Server, checked when run
(the group stays visible so that `show` works for everyone).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.command_helpers import choice, describe, localized, manage_guild_check
from bot.i18n import _
from bot.tree import interaction_locale
from bot.tree import reply_ephemeral as reply
from bot.usage.limits import LIMITS, MAX_VALUE, MEMBER_LIMITS
from bot.usage.limits import describe as about
from cogs.usage._text import limits_text, shown_value

if TYPE_CHECKING:
    from bot.app import CoupletBot

LIMIT_CHOICES = [
    choice(_("{limit} — {description}", limit=name, description=about(name)), name)
    for name in LIMITS
]
MEMBER_LIMIT_CHOICES = [c for c in LIMIT_CHOICES if c.value in MEMBER_LIMITS]
Value = app_commands.Range[int, 0, MAX_VALUE]


@app_commands.guild_only()
class Limits(
    commands.GroupCog,
    group_name="limits",
    group_description=localized(_("Usage limits per member and per server.")),
):
    """Usage limits per member and per server."""

    def __init__(self, bot: CoupletBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(
        name="show",
        description=localized(_("Show this server's usage limits and the roles that change them.")),
    )
    async def show(self, interaction: discord.Interaction) -> None:
        """Show this server's usage limits and the roles that change them."""
        assert interaction.guild_id is not None  # guild_only
        config = await self.bot.usage.limits.get(interaction.guild_id)
        used = await self.bot.usage.server_levels(interaction.guild_id)
        settings = await self.bot.server_settings.get(interaction.guild_id)
        text = limits_text(
            config, used, settings.limits_exempt_managers, interaction_locale(interaction)
        )
        await reply(interaction, text)

    @app_commands.command(
        name="set",
        description=localized(_("Change one of this server's usage limits (needs Manage Server).")),
    )
    @describe(limit=_("The limit to change"), value=_("Its new value (0 = no limit)"))
    @app_commands.choices(limit=LIMIT_CHOICES)
    @manage_guild_check
    async def set_(self, interaction: discord.Interaction, limit: str, value: Value) -> None:
        """Change one of this server's usage limits (needs Manage Server)."""
        assert interaction.guild_id is not None
        locale = interaction_locale(interaction)
        before = (await self.bot.usage.limits.get(interaction.guild_id)).value(limit)
        config = await self.bot.usage.limits.set(
            interaction.guild_id, limit, value, interaction.user.id
        )
        await reply(
            interaction,
            _(
                "{limit} is now {value} (was {old}).",
                limit=limit,
                value=shown_value(config.value(limit), locale),
                old=shown_value(before, locale),
            ),
        )

    @app_commands.command(
        name="role",
        description=localized(
            _(
                "Give a role its own member limit; the most generous role wins "
                "(needs Manage Server)."
            )
        ),
    )
    @describe(
        role=_("The role whose members get this value"),
        limit=_("The member limit to change for the role"),
        value=_("Its value for the role (0 = no limit)"),
    )
    @app_commands.choices(limit=MEMBER_LIMIT_CHOICES)
    @manage_guild_check
    async def role(
        self, interaction: discord.Interaction, role: discord.Role, limit: str, value: Value
    ) -> None:
        """Give a role its own member limit; the most generous role wins (needs Manage Server)."""
        assert interaction.guild_id is not None
        await self.bot.usage.limits.set_role(
            interaction.guild_id, role.id, limit, value, interaction.user.id
        )
        await reply(
            interaction,
            _(
                "Members with <@&{role}> now have {limit} {value} (the most generous of their "
                "roles applies).",
                role=role.id,
                limit=limit,
                value=shown_value(value, interaction_locale(interaction)),
            ),
        )

    @app_commands.command(
        name="reset",
        description=localized(_("Put usage limits back to the defaults (needs Manage Server).")),
    )
    @describe(
        limit=_("The limit to reset; leave out to reset every limit"),
        role=_("Only this role's override; leave out for the server's value and every role's"),
    )
    @app_commands.choices(limit=LIMIT_CHOICES)
    @manage_guild_check
    async def reset(
        self,
        interaction: discord.Interaction,
        limit: str | None = None,
        role: discord.Role | None = None,
    ) -> None:
        """Put usage limits back to the defaults (needs Manage Server)."""
        assert interaction.guild_id is not None
        removed = await self.bot.usage.limits.reset(
            interaction.guild_id,
            limit,
            interaction.user.id,
            role_id=role.id if role is not None else None,
        )
        if not removed:
            await reply(interaction, _("Nothing to reset: those limits already use the defaults."))
            return
        shown = ", ".join(
            f"`{name}` <@&{role_id}>" if role_id else f"`{name}`"
            for name, _sep, role_id in (item.partition("@") for item in removed)
        )
        await reply(interaction, _("Back to the defaults: {limits}.", limits=shown))
