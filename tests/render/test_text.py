"""Splitting text into Discord-sized pieces."""

from __future__ import annotations

import re

from bot.render.text import cut_units, split_text, ulen

FENCE_LINE = re.compile(r"^(```|~~~)")


def fences_balanced(piece: str) -> bool:
    """Every piece opens and closes its own code fences."""
    return sum(1 for line in piece.split("\n") if FENCE_LINE.match(line)) % 2 == 0


def test_short_text_is_one_piece() -> None:
    """Text within the limit comes back unchanged as a single piece."""
    assert split_text("hello\nworld") == ["hello\nworld"]


def test_3000_characters_of_paragraphs_split_at_a_paragraph() -> None:
    """3,000 characters of paragraphs become two pieces ≤ 2000 that break between paragraphs."""
    paragraphs = [f"Paragraph {i}. " + "word " * 56 for i in range(10)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    assert 2900 < len(text) < 3200
    pieces = split_text(text)
    assert len(pieces) == 2
    assert all(ulen(p) <= 2000 for p in pieces)
    # Nothing lost: the words of the pieces are the words of the text.
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())
    # The break is between paragraphs: each piece ends with a whole paragraph.
    assert pieces[0].endswith("word")
    assert pieces[1].startswith("Paragraph")


def test_lines_without_paragraphs_split_at_line_ends() -> None:
    """With no blank lines, breaks fall at line ends, never inside a line."""
    lines = [f"line {i:04d} " + "x" * 40 for i in range(100)]
    pieces = split_text("\n".join(lines))
    assert all(ulen(p) <= 2000 for p in pieces)
    assert [line for p in pieces for line in p.split("\n")] == lines


def test_code_fence_is_closed_and_reopened_with_its_language() -> None:
    """A code block split across pieces is closed at the break and re-opened with ```python."""
    code = "\n".join(f"print({i})  # a comment that takes room" for i in range(120))
    text = "Here is code:\n```python\n" + code + "\n```\nThat was the code."
    pieces = split_text(text)
    assert len(pieces) >= 3
    assert all(ulen(p) <= 2000 for p in pieces)
    assert all(fences_balanced(p) for p in pieces)
    for piece in pieces[1:]:
        assert piece.startswith("```python\n")
    for piece in pieces[:-1]:
        assert piece.endswith("```")
    # Every line of code arrives exactly once.
    shown = [line for p in pieces for line in p.split("\n") if line.startswith("print(")]
    assert shown == code.split("\n")


def test_one_enormous_line_is_cut_at_spaces() -> None:
    """A single 5,000-character line is cut at spaces into pieces within the limit."""
    text = " ".join(f"w{i}" for i in range(1200))
    pieces = split_text(text)
    assert len(pieces) >= 3
    assert all(ulen(p) <= 2000 for p in pieces)
    assert " ".join(pieces).split() == text.split()


def test_text_without_spaces_is_cut_hard() -> None:
    """4,500 Chinese characters without spaces or newlines become pieces within the limit."""
    text = "对联" * 2250
    pieces = split_text(text)
    assert all(ulen(p) <= 2000 for p in pieces)
    assert "".join(pieces) == text


def test_astral_characters_count_twice() -> None:
    """Emoji take two UTF-16 units, so 1,500 of them need two pieces and none is split in half."""
    text = "😀" * 1500
    pieces = split_text(text)
    assert len(pieces) == 2
    assert all(ulen(p) <= 2000 for p in pieces)
    assert "".join(pieces) == text
    assert cut_units("a😀b", 2) == "a"


def test_blank_text_gives_no_pieces() -> None:
    """Whitespace alone yields nothing to send (Discord rejects empty messages)."""
    assert split_text("   \n\n  ") == []
    assert split_text("\n" * 3000) == []
