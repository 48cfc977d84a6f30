"""Rich rendering for a person at a terminal: Discord's layout in styled fragments."""

from __future__ import annotations

from bot.sandbox.console import STYLE, screen_rows
from bot.sandbox.rendering import Fragments, message_fragments, plain, split_lines
from tests.sandbox.test_scripted_output import RICH_MESSAGE


def styles_of(fragments: Fragments, text: str) -> list[str]:
    """The styles of the fragments whose text is exactly `text`."""
    return [style for style, piece in fragments if piece == text]


def rich() -> Fragments:
    return message_fragments(RICH_MESSAGE, names={11: "alice", 22: "general"}, rich=True)


def test_author_and_ephemeral_marker_are_styled() -> None:
    """The bot's name and the "only you" marker carry their own styles."""
    fragments = rich()
    assert styles_of(fragments, "Couplet") == ["class:author"]
    assert styles_of(fragments, " (only you can see this)") == ["class:ephemeral"]


def test_subtext_and_markdown_show_as_discord_shows_them() -> None:
    """`-# ` lines are dimmed without their marker; **bold** and `code` lose their markers."""
    fragments = rich()
    text = plain(fragments)
    assert "  stub-model · 4 tokens" in text and "-# " not in text
    assert styles_of(fragments, "stub-model · 4 tokens") == ["class:subtext"]
    marked = message_fragments({"content": "a **big** `x` b"}, rich=True)
    assert plain(marked) == "bot:\n  a big x b"
    assert styles_of(marked, "big") == ["class:bold"]
    assert styles_of(marked, "x") == ["class:code"]


def test_embeds_are_framed_in_their_colour() -> None:
    """An embed is drawn in a frame whose bar takes the embed's colour: its author on the
    top edge, its footer on the bottom one."""
    lines = plain(rich()).split("\n")
    start = lines.index("  ╭─ Couplet presets")
    assert lines[start : start + 7] == [
        "  ╭─ Couplet presets",
        "  │ Presets",
        "  │ Two presets",
        "  │ for this server",
        "  │ short: max_tokens 5",
        "  │ calm: temperature 0.2",
        "  ╰─ page 1/1",
    ]
    assert styles_of(rich(), "│") == ["fg:#5865f2"] * 5


def test_buttons_and_selects_show_as_such() -> None:
    """Buttons keep their brackets and take their style's colour (a link gets ↗, a disabled
    one is struck through); a select reads as a select."""
    fragments = rich()
    assert styles_of(fragments, "[Regenerate]") == ["class:button.primary"]
    assert styles_of(fragments, "[◀ Prev]") == ["class:button.disabled"]
    assert styles_of(fragments, "[Docs ↗]") == ["class:button.link"]
    assert styles_of(fragments, "[🗑]") == ["class:button.danger"]
    assert styles_of(fragments, "<select Pick one: a, b>") == ["class:select"]


def test_every_style_class_is_defined() -> None:
    """Each class the renderer uses has a rule in the terminal's style."""
    defined = {name for names, _ in STYLE.style_rules for name in names.split()}
    used = {
        part.removeprefix("class:")
        for style, _ in rich()
        for part in style.split()
        if part.startswith("class:")
    }
    assert used <= defined, used - defined


def test_lines_are_cut_into_screen_rows_by_display_width() -> None:
    """The pager counts rows as the terminal shows them: Chinese characters take two
    columns, and styles stay with their text."""
    (line,) = split_lines([("class:author", "Couplet"), ("", ": 你好世界")])
    rows = screen_rows(line, 10)
    assert [plain(row) for row in rows] == ["Couplet: ", "你好世界"]
    assert rows[0][0] == ("class:author", "Couplet")
    assert split_lines([("", "a\nb\n")]) == [[("", "a")], [("", "b")]]
