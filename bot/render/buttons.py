"""The buttons under a completion message, as plain data.

Rendering decides which buttons a message carries, what they say (a `Msg`,
shown in the message's language) and what each refers to (a stored generation
id, a candidate, a page). It knows nothing of discord.py's views: the
Completions cog (`cogs/completions/_views.py`) turns each button into a
persistent `DynamicItem` and handles its clicks.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from bot.i18n import Msg, _

Direction = Literal["prev", "next"]


class Style(StrEnum):
    """How a button looks (discord.py's ButtonStyle names)."""

    PRIMARY = "primary"
    SECONDARY = "secondary"
    SUCCESS = "success"


@dataclass(frozen=True)
class PageButton:
    """◀ Prev / Next ▶ between candidates; `k` is the candidate the click shows."""

    direction: Direction
    gid: int
    k: int
    disabled: bool = False
    style = Style.SECONDARY

    @property
    def label(self) -> Msg:
        return _("◀ Prev") if self.direction == "prev" else _("Next ▶")


@dataclass(frozen=True)
class RegenerateButton:
    """The same request again, a new sample, in a new message."""

    gid: int
    disabled: bool = False
    label = _("Regenerate")
    style = Style.PRIMARY


@dataclass(frozen=True)
class ContinueButton:
    """Append candidate `k` to the prompt and generate more."""

    gid: int
    k: int
    disabled: bool = False
    label = _("Continue")
    style = Style.SUCCESS


@dataclass(frozen=True)
class TokensButton:
    """Open the token view of candidate `k` (an ephemeral message)."""

    gid: int
    k: int
    disabled: bool = False
    label = _("Tokens")
    style = Style.SECONDARY


@dataclass(frozen=True)
class TokenPageButton:
    """Earlier / Later in the token view; `page` is the page the click shows."""

    direction: Direction
    gid: int
    k: int
    page: int
    disabled: bool = False
    style = Style.SECONDARY

    @property
    def label(self) -> Msg:
        return _("◀ Earlier") if self.direction == "prev" else _("Later ▶")


Button = PageButton | RegenerateButton | ContinueButton | TokensButton | TokenPageButton


def completion_buttons(
    gid: int | None, k: int, n: int, *, can_continue: bool, has_tokens: bool
) -> tuple[Button, ...]:
    """The buttons under candidate k of n (one row of at most five); none when unsaved."""
    if gid is None:
        return ()
    buttons: list[Button] = []
    if n > 1:
        buttons.append(PageButton("prev", gid, max(k - 1, 0), disabled=k == 0))
        buttons.append(PageButton("next", gid, min(k + 1, n - 1), disabled=k >= n - 1))
    buttons.append(RegenerateButton(gid))
    if can_continue:
        buttons.append(ContinueButton(gid, k))
    if has_tokens:
        buttons.append(TokensButton(gid, k))
    return tuple(buttons)


def token_buttons(gid: int | None, k: int, page: int, pages: int) -> tuple[Button, ...]:
    """Earlier/Later for a token view with more than one page."""
    if gid is None or pages <= 1:
        return ()
    return (
        TokenPageButton("prev", gid, k, max(page - 1, 0), disabled=page == 0),
        TokenPageButton("next", gid, k, min(page + 1, pages - 1), disabled=page >= pages - 1),
    )
