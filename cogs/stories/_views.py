"""The buttons of stories as discord.py items that survive restarts, and the two forms.

Each button's custom_id carries what its click needs — the round and the
candidate (`cpl:st:v:12:345`), or the story for **Next round** — so any process,
before or after a restart, can handle it: the Stories cog loads the state from
the database and checks the clicker every time.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.i18n import Msg, _, render
from bot.stories.rules import WRITTEN_LENGTH
from bot.tree import reply_ephemeral, report_error

if TYPE_CHECKING:
    from bot.storage.stories import NodeRecord, RoundState
    from cogs.stories._cog import Stories

COG_NAME = "Stories"
Item = discord.ui.DynamicItem[discord.ui.Button[Any]]
# A moderator's decisions on a round's winner (or on a tie), as they appear in custom_ids.
DECISIONS = {"a": "approve", "e": "edit", "x": "reject", "p": "pick"}
_SHORT = {long: short for short, long in DECISIONS.items()}
ROW_SIZE = 5
ROUND_BUTTONS = {
    "w": (_("Write my own"), discord.ButtonStyle.secondary),
    "r": (_("Reroll"), discord.ButtonStyle.secondary),
    "c": (_("Close"), discord.ButtonStyle.danger),
}
DECISION_BUTTONS = {
    "approve": (_("Approve"), discord.ButtonStyle.success),
    "edit": (_("Edit"), discord.ButtonStyle.primary),
    "reject": (_("Reject"), discord.ButtonStyle.danger),
    "pick": (_("Pick {number}"), discord.ButtonStyle.primary),
}


async def _on_cog(
    interaction: discord.Interaction, handle: Callable[[Stories], Awaitable[None]]
) -> None:
    """Run a click's handler on the Stories cog, answering every failure with a sentence."""
    cog = interaction.client.get_cog(COG_NAME)  # type: ignore[attr-defined]
    if cog is None:
        await reply_ephemeral(interaction, _("Couplet is starting up; try again in a moment."))
        return
    try:
        await handle(cast("Stories", cog))
    except Exception as error:
        await report_error(interaction, error)


def _button(
    label: str, custom_id: str, style: discord.ButtonStyle, row: int | None = None
) -> discord.ui.Button[Any]:
    return discord.ui.Button(label=label, custom_id=custom_id, style=style, row=row)


class VoteItem(Item, template=r"cpl:st:v:(?P<round>[0-9]+):(?P<node>[0-9]+)"):
    """A vote for one candidate."""

    def __init__(self, round_id: int, node_id: int, label: str = "", row: int | None = None):
        custom_id = f"cpl:st:v:{round_id}:{node_id}"
        super().__init__(_button(label or "·", custom_id, discord.ButtonStyle.primary, row))
        self.round_id, self.node_id = round_id, node_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> VoteItem:
        return cls(int(match["round"]), int(match["node"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _on_cog(interaction, lambda cog: cog.vote(interaction, self.round_id, self.node_id))


class RoundItem(Item, template=r"cpl:st:(?P<what>w|r|c):(?P<round>[0-9]+)"):
    """Write my own (a form), Reroll and Close (moderators) on an open round."""

    def __init__(
        self, what: str, round_id: int, locale: str | None = None, row: int | None = None
    ) -> None:
        label, style = ROUND_BUTTONS[what]
        super().__init__(_button(render(label, locale), f"cpl:st:{what}:{round_id}", style, row))
        self.what, self.round_id = what, round_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RoundItem:
        return cls(match["what"], int(match["round"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        round_id = self.round_id
        if self.what == "w":
            await _on_cog(interaction, lambda cog: cog.open_write_form(interaction, round_id))
        elif self.what == "r":
            await _on_cog(interaction, lambda cog: cog.reroll(interaction, round_id))
        else:
            await _on_cog(interaction, lambda cog: cog.close(interaction, round_id))


class DecideItem(Item, template=r"cpl:st:(?P<action>a|e|x|p):(?P<round>[0-9]+):(?P<node>[0-9]+)"):
    """Approve / Edit / Reject a round's winner, or pick one of tied candidates."""

    def __init__(
        self,
        action: str,
        round_id: int,
        node_id: int,
        locale: str | None = None,
        number: int = 0,
        row: int | None = None,
    ) -> None:
        label, style = DECISION_BUTTONS[action]
        text = render(Msg(label.msgid, {"number": number}), locale)
        custom_id = f"cpl:st:{_SHORT[action]}:{round_id}:{node_id}"
        super().__init__(_button(text, custom_id, style, row))
        self.action, self.round_id, self.node_id = action, round_id, node_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> DecideItem:
        return cls(DECISIONS[match["action"]], int(match["round"]), int(match["node"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        action, round_id, node_id = self.action, self.round_id, self.node_id
        if action == "edit":
            await _on_cog(
                interaction, lambda cog: cog.open_edit_form(interaction, round_id, node_id)
            )
        else:
            await _on_cog(
                interaction, lambda cog: cog.decide(interaction, round_id, node_id, action)
            )


class NextItem(Item, template=r"cpl:st:n:(?P<story>[0-9]+)"):
    """Next round: the model writes the next candidates."""

    def __init__(self, story_id: int, locale: str | None = None) -> None:
        label = render(_("Next round"), locale)
        super().__init__(_button(label, f"cpl:st:n:{story_id}", discord.ButtonStyle.success))
        self.story_id = story_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> NextItem:
        return cls(int(match["story"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        story_id = self.story_id
        await _on_cog(interaction, lambda cog: cog.next_from_button(interaction, story_id))


DYNAMIC_ITEMS: tuple[type[Item], ...] = (VoteItem, RoundItem, DecideItem, NextItem)


def next_view(story_id: int, locale: str | None) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(NextItem(story_id, locale))
    return view


def round_view(
    state: RoundState, tied: Sequence[NodeRecord], locale: str | None
) -> discord.ui.View | None:
    """The buttons a round shows in its state: votes and actions while open, the
    moderator's decision while pending or tied, none once decided."""
    round_id, status = state.round.id, state.round.status
    view = discord.ui.View(timeout=None)
    if status == "open":
        voting = [n for n in state.nodes if n.status == "candidate"]
        for index, node in enumerate(voting):
            view.add_item(VoteItem(round_id, node.id, str(node.position), row=index // ROW_SIZE))
        actions_row = (len(voting) - 1) // ROW_SIZE + 1
        for what in ("w", "r", "c"):
            view.add_item(RoundItem(what, round_id, locale, row=actions_row))
        return view
    if status == "pending" and state.round.proposed_node_id is not None:
        node_id = state.round.proposed_node_id
        for action in ("approve", "edit", "reject"):
            view.add_item(DecideItem(action, round_id, node_id, locale))
        view.add_item(RoundItem("r", round_id, locale))
        return view
    if status == "tied":
        for index, node in enumerate(tied[: 2 * ROW_SIZE]):
            view.add_item(
                DecideItem("pick", round_id, node.id, locale, node.position, row=index // ROW_SIZE)
            )
        view.add_item(RoundItem("r", round_id, locale, row=2))
        return view
    return None


class TextForm(discord.ui.Modal):
    """One paragraph field: a member's own candidate, or a moderator's edit of the winner.
    `submit` gets the interaction and the text."""

    def __init__(
        self,
        title: Msg,
        label: Msg,
        submit: Callable[[discord.Interaction, str], Awaitable[None]],
        locale: str | None,
        default: str | None = None,
        max_length: int = WRITTEN_LENGTH,
    ) -> None:
        super().__init__(title=render(title, locale)[:45], timeout=15 * 60)
        self.field: discord.ui.TextInput[TextForm] = discord.ui.TextInput(
            label=render(label, locale)[:45],
            style=discord.TextStyle.paragraph,
            max_length=max_length,
            default=default,
        )
        self.add_item(self.field)
        self.submit = submit

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.submit(interaction, str(self.field.value))

    async def on_error(  # type: ignore[override]  # Modal narrows BaseView.on_error
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        await report_error(interaction, error)
