"""Buttons on completion messages that keep working across restarts.

Each button is a `discord.ui.DynamicItem` whose custom_id carries what it
needs (a stored generation id, a candidate index, a page), so no in-memory
view has to survive. Clicks are handed to the Completions cog, which owns the
flow; this module only knows ids and labels.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol

import discord

from bot.tree import reply_ephemeral, report_error

log = logging.getLogger(__name__)

GONE = "That completion is no longer available; run /complete again."
NOT_READY = "Couplet is starting up; try again in a moment."
HANDLER_COG = "Completions"


class ButtonHandler(Protocol):
    """What the Completions cog provides for the buttons."""

    async def show_candidate(self, interaction: discord.Interaction, gid: int, k: int) -> None: ...
    async def regenerate(self, interaction: discord.Interaction, gid: int) -> None: ...
    async def continue_text(self, interaction: discord.Interaction, gid: int, k: int) -> None: ...
    async def show_tokens(
        self, interaction: discord.Interaction, gid: int, k: int, page: int, *, new: bool
    ) -> None: ...


async def _dispatch(
    interaction: discord.Interaction, action: str, *args: Any, **kwargs: Any
) -> None:
    """Call the cog's handler, answering every failure with a sentence."""
    handler = interaction.client.get_cog(HANDLER_COG)  # type: ignore[attr-defined]
    if handler is None:
        await reply_ephemeral(interaction, NOT_READY)
        return
    try:
        await getattr(handler, action)(interaction, *args, **kwargs)
    except Exception as error:
        await report_error(interaction, error)


class PageButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"cpl:(?P<dir>prev|next):(?P<gid>[0-9]+):(?P<k>[0-9]+)",
):
    """◀ / ▶ between candidates; `k` is the candidate the click shows."""

    def __init__(self, direction: str, gid: int, k: int, *, disabled: bool = False) -> None:
        label = "◀ Prev" if direction == "prev" else "Next ▶"
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"cpl:{direction}:{gid}:{k}",
                disabled=disabled,
            )
        )
        self.gid, self.k = gid, k

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PageButton:
        return cls(match["dir"], int(match["gid"]), int(match["k"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _dispatch(interaction, "show_candidate", self.gid, self.k)


class RegenerateButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"cpl:regen:(?P<gid>[0-9]+)"
):
    """The same parameters again, a new sample, in a new message."""

    def __init__(self, gid: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Regenerate", style=discord.ButtonStyle.primary, custom_id=f"cpl:regen:{gid}"
            )
        )
        self.gid = gid

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RegenerateButton:
        return cls(int(match["gid"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _dispatch(interaction, "regenerate", self.gid)


class ContinueButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"cpl:cont:(?P<gid>[0-9]+):(?P<k>[0-9]+)",
):
    """Append candidate k to the prompt and generate more."""

    def __init__(self, gid: int, k: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Continue",
                style=discord.ButtonStyle.success,
                custom_id=f"cpl:cont:{gid}:{k}",
            )
        )
        self.gid, self.k = gid, k

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ContinueButton:
        return cls(int(match["gid"]), int(match["k"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _dispatch(interaction, "continue_text", self.gid, self.k)


class TokensButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"cpl:tok:(?P<gid>[0-9]+):(?P<k>[0-9]+)",
):
    """Open the token view of candidate k (an ephemeral message)."""

    def __init__(self, gid: int, k: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Tokens", style=discord.ButtonStyle.secondary, custom_id=f"cpl:tok:{gid}:{k}"
            )
        )
        self.gid, self.k = gid, k

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> TokensButton:
        return cls(int(match["gid"]), int(match["k"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _dispatch(interaction, "show_tokens", self.gid, self.k, 0, new=True)


class TokenPageButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"cpl:t(?P<dir>prev|next):(?P<gid>[0-9]+):(?P<k>[0-9]+):(?P<page>[0-9]+)",
):
    """Earlier / later tokens in the token view; `page` is the page the click shows."""

    def __init__(self, direction: str, gid: int, k: int, page: int, *, disabled: bool = False):
        label = "◀ Earlier" if direction == "prev" else "Later ▶"
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"cpl:t{direction}:{gid}:{k}:{page}",
                disabled=disabled,
            )
        )
        self.gid, self.k, self.page = gid, k, page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> TokenPageButton:
        return cls(match["dir"], int(match["gid"]), int(match["k"]), int(match["page"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _dispatch(interaction, "show_tokens", self.gid, self.k, self.page, new=False)


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    PageButton,
    RegenerateButton,
    ContinueButton,
    TokensButton,
    TokenPageButton,
)


def completion_view(
    gid: int | None,
    k: int,
    n: int,
    *,
    can_continue: bool,
    has_tokens: bool,
) -> discord.ui.View | None:
    """The buttons under candidate k of n (one row of at most five)."""
    if gid is None:
        return None
    view = discord.ui.View(timeout=None)
    if n > 1:
        view.add_item(PageButton("prev", gid, max(k - 1, 0), disabled=k == 0))
        view.add_item(PageButton("next", gid, min(k + 1, n - 1), disabled=k >= n - 1))
    view.add_item(RegenerateButton(gid))
    if can_continue:
        view.add_item(ContinueButton(gid, k))
    if has_tokens:
        view.add_item(TokensButton(gid, k))
    return view


def token_view(gid: int, k: int, page: int, pages: int) -> discord.ui.View | None:
    """Earlier/Later buttons for a token view with more than one page."""
    if pages <= 1:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(TokenPageButton("prev", gid, k, max(page - 1, 0), disabled=page == 0))
    view.add_item(
        TokenPageButton("next", gid, k, min(page + 1, pages - 1), disabled=page >= pages - 1)
    )
    return view
