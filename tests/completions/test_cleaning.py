"""The two cleaning modes, including the seed bot's own kind of text."""

from __future__ import annotations

import re

import pytest

from bot.completions import StreamCleaner, clean_text

# Couplet-style output as the seed bot produced it: tabs, newlines, stray
# control characters and runs of spaces around Chinese text.
SEED_EXAMPLES = [
    "上联：春风送暖入屋来\n下联：瑞雪迎春到福门\n横批：万象更新",
    "上联：\t春风送暖\x01入屋来\r\n下联：  瑞雪迎春\x1f到福门  ",
    "\x02\x03  上联：天增岁月人增寿\n\n\n\n\n下联：春满乾坤福满门\x7f\t",
    "First line\x0bSecond\x0cThird\x1bESC\x00NUL",
]


def seed_rule(text: str) -> str:
    """The seed's rule, written out independently of the code under test."""
    return " ".join(re.sub(r"[\x01-\x1F]", " ", text).split())


@pytest.mark.parametrize("text", SEED_EXAMPLES)
def test_seed_mode_is_the_seed_rule(text: str) -> None:
    """seed mode equals re.sub(r'[\\x01-\\x1F]', ' ', text) then ' '.join(text.split())."""
    assert clean_text(text, "seed") == seed_rule(text)


def test_seed_mode_examples() -> None:
    """seed mode flattens lines and tabs into single spaces and leaves NUL and DEL alone."""
    assert (
        clean_text(SEED_EXAMPLES[0], "seed")
        == "上联：春风送暖入屋来 下联：瑞雪迎春到福门 横批：万象更新"
    )
    assert clean_text(SEED_EXAMPLES[1], "seed") == "上联： 春风送暖 入屋来 下联： 瑞雪迎春 到福门"
    assert clean_text("a\x00b\x7fc", "seed") == "a\x00b\x7fc"  # outside \x01-\x1F
    assert clean_text("  many   spaces\there  ", "seed") == "many spaces here"


def test_every_c0_control_in_seed_mode() -> None:
    """Each of \\x01-\\x1F becomes a separator in seed mode."""
    for code in range(0x01, 0x20):
        assert clean_text(f"a{chr(code)}b", "seed") == "a b"


def test_preserve_keeps_lines_and_tabs() -> None:
    """preserve keeps newlines and tabs but drops other control characters."""
    text = "上联：\t春风送暖\x01入屋来\n下联：瑞雪\x1f迎春\x7f到福门"
    assert clean_text(text) == "上联：\t春风送暖入屋来\n下联：瑞雪迎春到福门"


def test_preserve_removes_every_other_control() -> None:
    """Every C0 control except \\n and \\t is removed in preserve mode (\\r is a line end)."""
    for code in range(0x00, 0x20):
        ch = chr(code)
        expected = {"\n": "a\nb", "\t": "a\tb", "\r": "a\nb"}.get(ch, "ab")
        assert clean_text(f"a{ch}b") == expected, hex(code)


def test_preserve_strips_trailing_spaces_per_line() -> None:
    """Trailing spaces and tabs go from each line; leading spaces stay."""
    assert clean_text(" first   \n  second\t \nthird ") == " first\n  second\nthird"


def test_preserve_collapses_three_or_more_blank_lines() -> None:
    """Three or more blank lines become one; one or two blank lines are kept."""
    assert clean_text("a\n\nb") == "a\n\nb"
    assert clean_text("a\n\n\nb") == "a\n\n\nb"
    assert clean_text("a\n\n\n\nb") == "a\n\nb"
    assert clean_text("a\n  \n\t\n \n\n\nb") == "a\n\nb"


def test_preserve_keeps_runs_of_inner_spaces() -> None:
    """preserve does not touch spaces inside a line (code and poems keep their layout)."""
    assert clean_text("x  =   1") == "x  =   1"


def test_unknown_mode_is_rejected() -> None:
    """An unknown mode is a programming error, not silently ignored."""
    with pytest.raises(ValueError):
        clean_text("x", "tidy")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["seed", "preserve"])
@pytest.mark.parametrize("text", [*SEED_EXAMPLES, "a \n\n\n\n  b  \nc\r\nd\r", "  x"])
def test_stream_cleaner_matches_clean_text(mode: str, text: str) -> None:
    """Cleaning streamed pieces one character at a time gives exactly clean_text's result."""
    cleaner = StreamCleaner(mode)  # type: ignore[arg-type]
    out = "".join(cleaner.feed(ch) for ch in text) + cleaner.flush()
    assert out == clean_text(text, mode)  # type: ignore[arg-type]
