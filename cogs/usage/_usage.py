"""/usage me and /usage server: what a member and a server used, read from the ledger."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.command_helpers import describe, localized, manage_guild_check, usage_subject
from bot.i18n import _, render
from bot.tree import NO_MENTIONS, interaction_locale
from bot.tree import reply_ephemeral as reply
from cogs.usage._text import member_text, server_text, usage_csv

if TYPE_CHECKING:
    from bot.app import CoupletBot

CSV_FILE = "usage.csv"


@app_commands.guild_only()
class Usage(
    commands.GroupCog,
    group_name="usage",
    group_description=localized(_("What members and the server used.")),
):
    """What members and the server used."""

    def __init__(self, bot: CoupletBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(
        name="me",
        description=localized(_("Your use today and this month, and what your limits leave.")),
    )
    async def me(self, interaction: discord.Interaction) -> None:
        """Your use today and this month, and what your limits leave."""
        assert interaction.guild_id is not None
        settings = await self.bot.server_settings.get(interaction.guild_id)
        usage = await self.bot.usage.member_usage(
            usage_subject(interaction), exempt=settings.limits_exempt_managers
        )
        await reply(interaction, member_text(usage, interaction_locale(interaction)))

    @app_commands.command(
        name="server",
        description=localized(
            _("This server's use this month by day, model and member (needs Manage Server).")
        ),
    )
    @describe(csv=_("Also attach usage.csv: one row per member per day (90 days)"))
    @manage_guild_check
    async def server(self, interaction: discord.Interaction, csv: bool = False) -> None:
        """This server's use this month by day, model and member (needs Manage Server)."""
        assert interaction.guild_id is not None
        locale = interaction_locale(interaction)
        report = await self.bot.usage.server_report(interaction.guild_id)
        text = server_text(report, locale)
        if not csv:
            await reply(interaction, text)
            return
        rows = await self.bot.usage.member_days(interaction.guild_id)
        data = usage_csv(rows).encode("utf-8")
        note = render(_("usage.csv: every member's every day, the last 90 days (UTC)."), locale)
        await interaction.response.send_message(
            text + "\n-# " + note if len(text) + len(note) < 1900 else text[:1900],
            file=discord.File(io.BytesIO(data), filename=CSV_FILE),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
