"""The sandbox terminal's pure parts: line parsing, option typing and rendering."""

from __future__ import annotations

import pytest

from bot.sandbox.options import OptionError
from bot.sandbox.rendering import render_message, show_markup
from bot.sandbox.terminal import (
    AsLine,
    ClickLine,
    EmptyLine,
    HelpLine,
    InLine,
    ModalLine,
    ParseError,
    QuitLine,
    SelectLine,
    SlashLine,
    parse_line,
    typed_options,
)

COMPLETE = {
    "name": "complete",
    "options": [
        {"type": 3, "name": "prompt", "required": False},
        {"type": 4, "name": "max_tokens"},
        {"type": 10, "name": "temperature"},
        {"type": 5, "name": "echo"},
        {"type": 6, "name": "who"},
        {"type": 7, "name": "where"},
    ],
}
PRESET = {
    "name": "preset",
    "options": [
        {
            "type": 1,
            "name": "create",
            "options": [{"type": 3, "name": "name"}, {"type": 10, "name": "temperature"}],
        }
    ],
}


def test_slash_with_quoted_and_bare_options() -> None:
    """Quoted values keep spaces and colons; bare values end at whitespace."""
    line = parse_line('/complete prompt:"Once upon: a time" max_tokens:16 temperature:0.9')
    assert line == SlashLine(
        ("complete",),
        {"prompt": "Once upon: a time", "max_tokens": "16", "temperature": "0.9"},
    )


def test_slash_subcommand_words() -> None:
    """Words before the first option are subcommand names."""
    assert parse_line("/preset create name:calm temperature:0.2") == SlashLine(
        ("preset", "create"), {"name": "calm", "temperature": "0.2"}
    )


def test_backslash_escapes_stay_literal() -> None:
    r"""`\n` inside quotes reaches the option as backslash-n, for the stop option's own parser."""
    line = parse_line(r'/complete stop:"\n|END"')
    assert isinstance(line, SlashLine) and line.options["stop"] == "\\n|END"


def test_empty_value_and_single_quotes() -> None:
    """`opt:` gives an empty string; single quotes work like double quotes."""
    line = parse_line("/complete prompt:'it is' suffix:")
    assert isinstance(line, SlashLine) and line.options == {"prompt": "it is", "suffix": ""}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('/complete prompt:"unclosed', "close your quotes"),
        ("/complete prompt:a stray", "name:value"),
        ("/complete n:1 n:2", "twice"),
        ("/", "command name"),
        ("dance", "Unknown command 'dance'"),
        ("click", "click LABEL"),
        ("modal a=1 stray", "FIELD=value"),
        ("modal", "modal TEXT"),
    ],
)
def test_parse_errors_are_one_sentence(text: str, message: str) -> None:
    """Bad lines raise ParseError saying what to type instead."""
    with pytest.raises(ParseError, match=message):
        parse_line(text)


def test_other_commands() -> None:
    """click, select, as, in, modal, help, quit and comments parse to their commands."""
    assert parse_line("click Regenerate") == ClickLine("Regenerate")
    assert parse_line('click "Next page"') == ClickLine("Next page")
    assert parse_line("select a b") == SelectLine(("a", "b"))
    assert parse_line("as @admin") == AsLine("admin")
    assert parse_line("in #random") == InLine("random")
    assert parse_line('modal prompt="two words" title=x') == ModalLine(
        {"prompt": "two words", "title": "x"}
    )
    assert parse_line(r'modal "line one\nline two"') == ModalLine({"": "line one\nline two"})
    assert parse_line("modal just some words") == ModalLine({"": "just some words"})
    assert parse_line("help") == HelpLine()
    assert parse_line("quit") == QuitLine() == parse_line("exit")
    assert parse_line("# a comment") == EmptyLine() == parse_line("   ")


def test_typed_options_follow_the_definition() -> None:
    """Text becomes int, float, bool, or names for members and channels, per option type."""
    typed = typed_options(
        COMPLETE,
        [],
        {
            "max_tokens": "8",
            "temperature": "0.5",
            "echo": "yes",
            "who": "@alice",
            "where": "#general",
            "unknown": "kept",
        },
    )
    assert typed == {
        "max_tokens": 8,
        "temperature": 0.5,
        "echo": True,
        "who": "alice",
        "where": "general",
        "unknown": "kept",
    }
    assert typed_options(PRESET, ["create"], {"temperature": "1"}) == {"temperature": 1.0}


def test_typed_options_refuse_bad_numbers() -> None:
    """A non-number for an integer option is refused naming the option and the value."""
    with pytest.raises(OptionError, match="'max_tokens' needs an integer, not 'many'"):
        typed_options(COMPLETE, [], {"max_tokens": "many"})
    with pytest.raises(OptionError, match="true or false"):
        typed_options(COMPLETE, [], {"echo": "maybe"})


def test_render_message() -> None:
    """Content, embeds, buttons, files and the ephemeral mark all show as text."""
    text = render_message(
        {
            "author": {"username": "Couplet"},
            "flags": 64,
            "content": "line one\nline two",
            "embeds": [{"title": "T", "description": "D", "fields": [{"name": "k", "value": "v"}]}],
            "components": [
                {
                    "type": 1,
                    "components": [
                        {"type": 2, "label": "Regenerate", "custom_id": "r"},
                        {"type": 2, "label": "Continue", "custom_id": "c", "disabled": True},
                    ],
                }
            ],
            "attachments": [{"filename": "out.txt", "size": 12}],
        }
    )
    assert text.splitlines() == [
        "Couplet: (only you can see this)",
        "  line one",
        "  line two",
        "  | T",
        "  | D",
        "  | k: v",
        "  [Regenerate] [Continue (disabled)]",
        "  file: out.txt (12 bytes)",
    ]


def test_mentions_and_timestamps_read_as_in_discord() -> None:
    """User, role and channel mentions show by name and timestamps as times; unknown ids stay."""
    names = {11: "alice", 22: "general", 33: "mods"}
    text = show_markup(
        "<@11> in <#22> told <@&33> and <@!11> <@99> <t:970:R> <t:0:f> <t:2000:R>",
        names,
        now=1000.0,
    )
    assert (
        text
        == "@alice in #general told @mods and @alice <@99> just now 1970-01-01 00:00 UTC in 16 min"
    )


def test_render_message_uses_names_for_mentions() -> None:
    """render_message shows a mention in the content by the member's name."""
    text = render_message(
        {"author": {"username": "Couplet"}, "content": "by <@11>"}, names={11: "alice"}
    )
    assert text.splitlines() == ["Couplet:", "  by @alice"]
