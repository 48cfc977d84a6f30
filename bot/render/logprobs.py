"""The token view: each generated token shaded by its probability, with the
top alternatives at each position, in pages that fit one Discord message.

Shading uses an ```ansi code block, which Discord colours on desktop and shows
as plain text elsewhere; the alternatives table is plain text so it reads
anywhere.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.i18n import Msg, _, percent, render
from bot.render.text import MESSAGE_LIMIT, cut_units, ulen

# (lowest probability, ANSI colour, name) from most to least likely.
TIERS: tuple[tuple[float, int, Msg], ...] = (
    (0.9, 32, _("green")),
    (0.5, 36, _("cyan")),
    (0.2, 33, _("yellow")),
    (0.0, 31, _("red")),
)
UNKNOWN_COLOUR = 30  # grey: no logprob (e.g. the first echoed token)
TOKEN_WIDTH = 16  # characters of a token shown in the table before "…"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Room left on each page for the "page p/q" line.
_PAGE_LINE_ROOM = 60


@dataclass(frozen=True)
class TokenRow:
    """One generated position: the token, its probability and the alternatives."""

    token: str
    logprob: float | None
    alternatives: tuple[tuple[str, float], ...]  # (token, logprob), most likely first


def rows_from_logprobs(
    tokens: Sequence[str],
    token_logprobs: Sequence[float | None],
    top_logprobs: Sequence[dict[str, float] | None] | None,
) -> list[TokenRow]:
    """Zip the legacy logprobs arrays into rows (tolerating ragged arrays)."""
    rows: list[TokenRow] = []
    for index, token in enumerate(tokens):
        logprob = token_logprobs[index] if index < len(token_logprobs) else None
        top = top_logprobs[index] if top_logprobs and index < len(top_logprobs) else None
        alternatives = tuple(
            sorted(
                ((alt, value) for alt, value in (top or {}).items() if value is not None),
                key=lambda pair: pair[1],
                reverse=True,
            )
        )
        rows.append(TokenRow(token, logprob, alternatives))
    return rows


def probability(logprob: float | None) -> float | None:
    """exp(logprob), or None."""
    if logprob is None or math.isnan(logprob):
        return None
    return math.exp(max(logprob, -700.0))


def legend(locale: str | None = None) -> str:
    """`-# green ≥90% · cyan ≥50% · yellow ≥20% · red <20%`, in `locale`."""
    parts = [
        _("{colour} ≥{chance}", colour=name, chance=percent(low))
        if low
        else _("{colour} <{chance}", colour=name, chance=percent(TIERS[-2][0]))
        for low, _colour, name in TIERS
    ]
    return "-# " + " · ".join(render(part, locale) for part in parts)


def colour_for(logprob: float | None) -> int:
    """The ANSI colour code of a token's tier."""
    prob = probability(logprob)
    if prob is None:
        return UNKNOWN_COLOUR
    for low, colour, _name in TIERS:
        if prob >= low:
            return colour
    return TIERS[-1][1]


def _safe_in_block(text: str) -> str:
    """Text that cannot end a code block or carry stray control codes."""
    text = _CONTROL.sub("", text)
    # A zero-width space between backticks stops "```" from closing the block.
    return text.replace("```", "`\u200b`\u200b`")


def shown_token(token: str) -> str:
    """A token quoted so that spaces and newlines are visible, cut to TOKEN_WIDTH."""
    quoted = json.dumps(token, ensure_ascii=False)
    if len(quoted) > TOKEN_WIDTH + 2:
        quoted = quoted[: TOKEN_WIDTH + 1] + '…"'
    return _safe_in_block(quoted)


def shaded_block(rows: Sequence[TokenRow]) -> str:
    """An ```ansi block with every token coloured by its probability."""
    parts = [f"\x1b[0;{colour_for(row.logprob)}m{_safe_in_block(row.token)}" for row in rows]
    return "```ansi\n" + "".join(parts) + "\x1b[0m\n```"


def _chance(logprob: float | None, locale: str | None) -> str:
    prob = probability(logprob)
    return render(percent(prob), locale) if prob is not None else "?"


def table_line(position: int, row: TokenRow, locale: str | None = None) -> str:
    """`  7 " the"   92%  " a" 4% · " this" 2%` for one position."""
    chance = _chance(row.logprob, locale).rjust(4)
    others = [(alt, value) for alt, value in row.alternatives if alt != row.token]
    alts = " · ".join(f"{shown_token(alt)} {_chance(value, locale)}" for alt, value in others)
    return f"{position:>3} {shown_token(row.token):<{TOKEN_WIDTH + 2}} {chance}  {alts or '—'}"


def render_page(rows: Sequence[TokenRow], start: int, locale: str | None = None) -> str:
    """One page for rows[start:…] already chosen: shading, legend, then the table."""
    table = "\n".join(
        table_line(start + offset + 1, row, locale) for offset, row in enumerate(rows)
    )
    return f"{shaded_block(rows)}\n{legend(locale)}\n```\n{table}\n```"


def token_pages(
    rows: Sequence[TokenRow], limit: int = MESSAGE_LIMIT, locale: str | None = None
) -> list[str]:
    """Split rows into pages that each fit `limit`, with a `page p/q` line.

    Each page holds as many consecutive positions as fit, at least one.
    """
    if not rows:
        return [render(_("No token probabilities were returned for this completion."), locale)]
    budget = limit - _PAGE_LINE_ROOM
    # Sizes add up row by row, so pages are cut in one pass (no re-rendering).
    overhead = ulen(render_page([], 0, locale))
    segments = [ulen(shaded_block([row])) - ulen(shaded_block([])) for row in rows]
    bounds: list[tuple[int, int]] = []
    start = 0
    while start < len(rows):
        size = overhead + segments[start] + ulen(table_line(start + 1, rows[start], locale))
        end = start + 1
        while end < len(rows):
            grow = segments[end] + 1 + ulen(table_line(end + 1, rows[end], locale))
            if size + grow > budget:
                break
            size += grow
            end += 1
        bounds.append((start, end))
        start = end
    pages = []
    for number, (first, last) in enumerate(bounds, start=1):
        page = render_page(rows[first:last], first, locale)
        if ulen(page) > budget:
            # A single enormous token: show what fits rather than nothing.
            page = cut_units(page, budget - 4) + "\n```"
        line = "-# " + render(
            _(
                "tokens {first}–{last} of {total} · page {page}/{pages}",
                first=first + 1,
                last=last,
                total=len(rows),
                page=number,
                pages=len(bounds),
            ),
            locale,
        )
        pages.append(f"{page}\n{line}")
    return pages
