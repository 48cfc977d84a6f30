"""/sampling: what temperature and top_p do to the next token, as a chart.

Thin adapter: defer within Discord's 3 seconds, hand over to
`bot.services.sampling`, draw the chart off the event loop, answer with the
PNG, the text fallback and two buttons. The buttons are DynamicItems whose
custom_id carries a stored chart id, so they work after a restart.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.command_helpers import Temperature, TopP, describe, localized, member_facts
from bot.completions.parameters import descriptions
from bot.i18n import _, render
from bot.render.sampling import caption, sampling_content
from bot.render.sampling_chart import chart_png
from bot.services.generation import Requester
from bot.services.sampling import SamplingOutcome, SamplingService
from bot.storage.sampling import SamplingStore
from bot.tree import (
    NO_MENTIONS,
    PUBLIC_DEFER,
    public_locale,
    reply_ephemeral,
    report_error,
)

if TYPE_CHECKING:
    from bot.app import CoupletBot

log = logging.getLogger(__name__)


CHART_FILE = "sampling.png"
ALT_TEXT_LIMIT = 1024  # Discord's limit for an attachment's description
GONE = _("That chart is no longer available; run /sampling again.")
NOT_READY = _("Couplet is starting up; try again in a moment.")
HANDLER_COG = "Sampling"
# Charts older than this are pruned at start; their buttons then say GONE.
CHART_RETENTION = timedelta(days=30)
LABELS = {"sample": _("Sample it"), "next": _("Next token")}


class SamplingButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"cpl:smp:(?P<action>sample|next):(?P<chart>[0-9]+)",
):
    """Sample it / Next token on a /sampling chart; `chart` is the stored chart's id."""

    def __init__(self, action: str, chart_id: int, locale: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=render(LABELS[action], locale),
                style=discord.ButtonStyle.primary
                if action == "sample"
                else discord.ButtonStyle.secondary,
                custom_id=f"cpl:smp:{action}:{chart_id}",
            )
        )
        self.action, self.chart_id = action, chart_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> SamplingButton:
        return cls(match["action"], int(match["chart"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog(HANDLER_COG)  # type: ignore[attr-defined]
        if cog is None:
            await reply_ephemeral(interaction, NOT_READY)
            return
        try:
            await cog.clicked(interaction, self.action, self.chart_id)
        except Exception as error:
            await report_error(interaction, error)


def sampling_view(chart_id: int | None, locale: str | None = None) -> discord.ui.View | None:
    """The two buttons under a stored chart, labelled in `locale`."""
    if chart_id is None:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(SamplingButton("sample", chart_id, locale))
    view.add_item(SamplingButton("next", chart_id, locale))
    return view


def requester_of(interaction: discord.Interaction) -> Requester:
    return Requester(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        **member_facts(interaction),
    )


class Sampling(commands.Cog):
    """/sampling and the buttons on its charts."""

    def __init__(self, bot: CoupletBot) -> None:
        self.bot = bot
        self.store = SamplingStore(bot.db)
        self.service = SamplingService(bot.completions, bot.generation, self.store)

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(SamplingButton)
        try:
            await self.store.prune(CHART_RETENTION)
        except Exception:
            log.exception("could not prune old sampling charts; continuing")

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(SamplingButton)

    @app_commands.command(
        name="sampling",
        description=localized(
            _("Chart how temperature and top_p change the odds of the model's next token.")
        ),
    )
    # temperature, top_p and model: the parameter table's ranges and words, as in /complete.
    @describe(
        prompt=_("The text whose next token is charted"),
        **descriptions(("temperature", "top_p", "model")),
    )
    async def sampling(
        self,
        interaction: discord.Interaction,
        prompt: str,
        temperature: Temperature | None = None,
        top_p: TopP | None = None,
        model: str | None = None,
    ) -> None:
        await interaction.response.defer(thinking=True)
        # An error now replaces the public "thinking…" with an ephemeral sentence.
        interaction.extras[PUBLIC_DEFER] = True
        options = {"temperature": temperature, "top_p": top_p, "model": model}
        outcome = await self.service.chart(requester_of(interaction), prompt, options)
        await self.show(interaction, outcome)

    @sampling.autocomplete("model")
    async def model_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """The same choices as /complete's model option (the Completions cog owns them)."""
        complete_choices = getattr(self.bot.get_cog("Completions"), "model_autocomplete", None)
        if complete_choices is None:
            return []
        choices: list[app_commands.Choice[str]] = await complete_choices(interaction, current)
        return choices

    async def show(self, interaction: discord.Interaction, outcome: SamplingOutcome) -> None:
        """Draw the chart in a worker thread and put it, the text and the buttons in place."""
        locale = await public_locale(interaction)  # the chart is public
        png = await asyncio.to_thread(chart_png, outcome, locale)
        alt_text = caption(outcome, locale)[:ALT_TEXT_LIMIT]
        chart = discord.File(io.BytesIO(png), filename=CHART_FILE, description=alt_text)
        interaction.extras.pop(PUBLIC_DEFER, None)  # the answer is here
        await interaction.edit_original_response(
            content=sampling_content(outcome, locale=locale),
            attachments=[chart],
            view=sampling_view(outcome.chart_id, locale),
            allowed_mentions=NO_MENTIONS,
        )

    async def clicked(self, interaction: discord.Interaction, action: str, chart_id: int) -> None:
        """Sample it / Next token: redraw the clicked message in place."""
        await interaction.response.defer()
        chart = await self.service.load(chart_id)
        # A chart only answers clicks in the server it was made in.
        if chart is None or chart.guild_id != interaction.guild_id:
            await reply_ephemeral(interaction, GONE)
            return
        requester = requester_of(interaction)
        if action == "sample":
            outcome = await self.service.sample(chart, requester)
        else:
            outcome = await self.service.next_token(chart, requester)
        await self.show(interaction, outcome)


async def setup(bot: CoupletBot) -> None:
    await bot.add_cog(Sampling(bot))
