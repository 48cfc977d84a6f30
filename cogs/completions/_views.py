"""The buttons on completion messages as discord.py items that survive restarts.

`bot.render.buttons` describes each button as data; here each kind becomes a
`discord.ui.DynamicItem` whose custom_id carries what the click needs (a
stored generation id, a candidate, a page), so no in-memory view has to
outlive the process. A click is handed to the Completions cog's handler.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.i18n import _, render
from bot.render.buttons import (
    Button,
    ContinueButton,
    Direction,
    PageButton,
    RegenerateButton,
    TokenPageButton,
    TokensButton,
)
from bot.tree import reply_ephemeral, report_error

if TYPE_CHECKING:
    from cogs.completions._cog import Completions

COG_NAME = "Completions"
NOT_READY = _("Couplet is starting up; try again in a moment.")

Item = discord.ui.DynamicItem[discord.ui.Button[Any]]


def _button(spec: Button, custom_id: str, locale: str | None = None) -> discord.ui.Button[Any]:
    return discord.ui.Button(
        label=render(spec.label, locale),
        style=discord.ButtonStyle[spec.style.value],
        custom_id=custom_id,
        disabled=spec.disabled,
    )


async def _on_cog(
    interaction: discord.Interaction, handle: Callable[[Completions], Awaitable[None]]
) -> None:
    """Run a click's handler on the Completions cog, answering every failure with a sentence."""
    cog = interaction.client.get_cog(COG_NAME)  # type: ignore[attr-defined]
    if cog is None:
        await reply_ephemeral(interaction, NOT_READY)
        return
    try:
        await handle(cast("Completions", cog))
    except Exception as error:
        await report_error(interaction, error)


class PageItem(Item, template=r"cpl:(?P<dir>prev|next):(?P<gid>[0-9]+):(?P<k>[0-9]+)"):
    """◀ / ▶ between candidates: shows candidate k in place."""

    def __init__(self, spec: PageButton, locale: str | None = None) -> None:
        super().__init__(_button(spec, f"cpl:{spec.direction}:{spec.gid}:{spec.k}", locale))
        self.spec = spec

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PageItem:
        direction: Direction = "prev" if match["dir"] == "prev" else "next"
        return cls(PageButton(direction, int(match["gid"]), int(match["k"])))

    async def callback(self, interaction: discord.Interaction) -> None:
        spec = self.spec
        await _on_cog(interaction, lambda cog: cog.show_candidate(interaction, spec.gid, spec.k))


class RegenerateItem(Item, template=r"cpl:regen:(?P<gid>[0-9]+)"):
    """Regenerate: the same request again in a new message."""

    def __init__(self, spec: RegenerateButton, locale: str | None = None) -> None:
        super().__init__(_button(spec, f"cpl:regen:{spec.gid}", locale))
        self.spec = spec

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RegenerateItem:
        return cls(RegenerateButton(int(match["gid"])))

    async def callback(self, interaction: discord.Interaction) -> None:
        gid = self.spec.gid
        await _on_cog(interaction, lambda cog: cog.regenerate(interaction, gid))


class ContinueItem(Item, template=r"cpl:cont:(?P<gid>[0-9]+):(?P<k>[0-9]+)"):
    """Continue: candidate k appended to the prompt, more generated."""

    def __init__(self, spec: ContinueButton, locale: str | None = None) -> None:
        super().__init__(_button(spec, f"cpl:cont:{spec.gid}:{spec.k}", locale))
        self.spec = spec

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ContinueItem:
        return cls(ContinueButton(int(match["gid"]), int(match["k"])))

    async def callback(self, interaction: discord.Interaction) -> None:
        spec = self.spec
        await _on_cog(interaction, lambda cog: cog.continue_text(interaction, spec.gid, spec.k))


class TokensItem(Item, template=r"cpl:tok:(?P<gid>[0-9]+):(?P<k>[0-9]+)"):
    """Tokens: opens the token view of candidate k (an ephemeral message)."""

    def __init__(self, spec: TokensButton, locale: str | None = None) -> None:
        super().__init__(_button(spec, f"cpl:tok:{spec.gid}:{spec.k}", locale))
        self.spec = spec

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> TokensItem:
        return cls(TokensButton(int(match["gid"]), int(match["k"])))

    async def callback(self, interaction: discord.Interaction) -> None:
        spec = self.spec
        await _on_cog(
            interaction, lambda cog: cog.show_tokens(interaction, spec.gid, spec.k, 0, new=True)
        )


class TokenPageItem(
    Item,
    template=r"cpl:t(?P<dir>prev|next):(?P<gid>[0-9]+):(?P<k>[0-9]+):(?P<page>[0-9]+)",
):
    """Earlier / Later in the token view: edits it in place."""

    def __init__(self, spec: TokenPageButton, locale: str | None = None) -> None:
        super().__init__(
            _button(spec, f"cpl:t{spec.direction}:{spec.gid}:{spec.k}:{spec.page}", locale)
        )
        self.spec = spec

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> TokenPageItem:
        direction: Direction = "prev" if match["dir"] == "prev" else "next"
        spec = TokenPageButton(direction, int(match["gid"]), int(match["k"]), int(match["page"]))
        return cls(spec)

    async def callback(self, interaction: discord.Interaction) -> None:
        spec = self.spec
        await _on_cog(
            interaction,
            lambda cog: cog.show_tokens(interaction, spec.gid, spec.k, spec.page, new=False),
        )


DYNAMIC_ITEMS: tuple[type[Item], ...] = (
    PageItem,
    RegenerateItem,
    ContinueItem,
    TokensItem,
    TokenPageItem,
)


def item_for(spec: Button, locale: str | None = None) -> Item:
    """The persistent item for one rendered button, labelled in `locale`."""
    match spec:
        case PageButton():
            return PageItem(spec, locale)
        case RegenerateButton():
            return RegenerateItem(spec, locale)
        case ContinueButton():
            return ContinueItem(spec, locale)
        case TokensButton():
            return TokensItem(spec, locale)
        case TokenPageButton():
            return TokenPageItem(spec, locale)


def view_for(buttons: Sequence[Button], locale: str | None = None) -> discord.ui.View | None:
    """A view holding the rendered buttons in order (labels in `locale`), or None when none."""
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for spec in buttons:
        view.add_item(item_for(spec, locale))
    return view
