"""The review queue's buttons as discord.py items that survive restarts.

Each button's custom_id carries the held text's id and the decision
(`cpl:mod:approve:42`), so any process, before or after a restart, can act on
a click: the handler loads the held text from the database and checks the
clicker's Manage Messages permission every time.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.i18n import _, render
from bot.moderation.service import DECISIONS, Decision
from bot.tree import reply_ephemeral, report_error

if TYPE_CHECKING:
    from cogs.moderation._cog import Moderation

COG_NAME = "Moderation"

_SHORT = {"approve": "approve", "reject": "reject", "timeout_1h": "t1h", "timeout_24h": "t24h"}
_LONG = {short: long for long, short in _SHORT.items()}
LABELS = {
    "approve": (_("Approve"), discord.ButtonStyle.success),
    "reject": (_("Reject"), discord.ButtonStyle.danger),
    "timeout_1h": (_("Time out 1 h"), discord.ButtonStyle.secondary),
    "timeout_24h": (_("Time out 24 h"), discord.ButtonStyle.secondary),
}


def review_view(held_id: int, locale: str | None = None) -> discord.ui.View:
    """Approve / Reject / Time out 1 h / Time out 24 h for one held text (labels in the
    server's language)."""
    view = discord.ui.View(timeout=None)
    for decision in DECISIONS:
        view.add_item(ReviewItem(held_id, decision, locale))
    return view


class ReviewItem(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"cpl:mod:(?P<decision>approve|reject|t1h|t24h):(?P<id>[0-9]+)",
):
    """One decision on one held text."""

    def __init__(self, held_id: int, decision: Decision, locale: str | None = None) -> None:
        label, style = LABELS[decision]
        super().__init__(
            discord.ui.Button(
                label=render(label, locale),
                style=style,
                custom_id=f"cpl:mod:{_SHORT[decision]}:{held_id}",
            )
        )
        self.held_id = held_id
        self.decision = decision

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ReviewItem:
        return cls(int(match["id"]), cast("Decision", _LONG[match["decision"]]))

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog(COG_NAME)  # type: ignore[attr-defined]
        if cog is None:
            await reply_ephemeral(interaction, _("Couplet is starting up; try again in a moment."))
            return
        try:
            await cast("Moderation", cog).decide(interaction, self.held_id, self.decision)
        except Exception as error:
            await report_error(interaction, error)


DYNAMIC_ITEMS = (ReviewItem,)
