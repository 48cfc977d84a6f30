"""The token view: shading, alternatives and pages within Discord's limit."""

from __future__ import annotations

import math

from bot.render.logprobs import (
    colour_for,
    rows_from_logprobs,
    shaded_block,
    table_line,
    token_pages,
)
from bot.render.text import ulen


def make_rows(count: int, alternatives: int = 5):
    tokens = [f" tok{i}" for i in range(count)]
    logprobs = [math.log(0.05 + 0.9 * ((i * 37) % 100) / 100) for i in range(count)]
    top = [
        {f" alt{i}_{k}": math.log(0.5 / (k + 1)) for k in range(alternatives)} | {tokens[i]: lp}
        for i, lp in enumerate(logprobs)
    ]
    return rows_from_logprobs(tokens, logprobs, top)


def test_tiers_colour_by_probability() -> None:
    """≥90% green, ≥50% cyan, ≥20% yellow, below red, unknown grey."""
    assert colour_for(math.log(0.95)) == 32
    assert colour_for(math.log(0.6)) == 36
    assert colour_for(math.log(0.3)) == 33
    assert colour_for(math.log(0.01)) == 31
    assert colour_for(None) == 30


def test_table_line_shows_token_probability_and_other_alternatives() -> None:
    """A row shows its position, the quoted token, its chance and the others, most likely first."""
    rows = rows_from_logprobs(
        [" the"], [math.log(0.92)], [{" the": math.log(0.92), " a": math.log(0.04)}]
    )
    line = table_line(7, rows[0])
    assert line.startswith('  7 " the"')
    assert "92%" in line
    assert line.endswith('" a" 4%')


def test_backticks_in_tokens_cannot_close_the_block() -> None:
    """A token of three backticks does not end the ```ansi block early."""
    rows = rows_from_logprobs(["```", "x"], [0.0, 0.0], None)
    block = shaded_block(rows)
    assert block.count("```") == 2


def test_pages_fit_discord_and_cover_every_position() -> None:
    """512 tokens with five alternatives each become pages of ≤2000 units covering all rows."""
    rows = make_rows(512)
    pages = token_pages(rows)
    assert len(pages) > 1
    assert all(ulen(page) <= 2000 for page in pages)
    assert pages[0].endswith(f"page 1/{len(pages)}")
    assert f"of 512 · page {len(pages)}/{len(pages)}" in pages[-1]
    # Every position number appears in exactly one page's table.
    numbers = []
    for page in pages:
        table = page.split("```\n")[-2]
        numbers += [
            int(line.split()[0]) for line in table.split("\n") if line[:3].strip().isdigit()
        ]
    assert numbers == list(range(1, 513))


def test_huge_token_still_fits() -> None:
    """A single 5,000-character token is cut so its page still fits."""
    rows = rows_from_logprobs(["x" * 5000], [-0.1], [None])
    pages = token_pages(rows)
    assert len(pages) == 1
    assert ulen(pages[0]) <= 2000


def test_no_logprobs_says_so() -> None:
    """A completion without logprobs gets a sentence instead of an empty page."""
    assert token_pages([]) == ["No token probabilities were returned for this completion."]


def test_token_view_in_chinese() -> None:
    """The legend, the page line and the empty case read in Chinese; pages still fit."""
    rows = make_rows(512)
    pages = token_pages(rows, locale="zh-CN")
    assert "-# 绿 ≥90% · 青 ≥50% · 黄 ≥20% · 红 <20%" in pages[0]
    assert pages[-1].endswith(f"个 token，共 512 个 · 第 {len(pages)}/{len(pages)} 页")
    assert all(ulen(page) <= 2000 for page in pages)
    english = token_pages(rows)
    assert "-# green ≥90% · cyan ≥50% · yellow ≥20% · red <20%" in english[0]
    assert token_pages([], locale="zh-CN") == ["这次补全没有返回 token 概率。"]
