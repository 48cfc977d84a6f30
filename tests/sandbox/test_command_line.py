"""Reading a line while it is typed: words as shlex reads them, and where the cursor is."""

from __future__ import annotations

import shlex

import pytest

from bot.sandbox.command_line import (
    option_summary,
    raw_value,
    read_slash,
    value_problem,
    words,
)

COMMANDS = [
    {
        "name": "complete",
        "description": "Continue a prompt",
        "options": [
            {"type": 3, "name": "prompt", "description": "The text"},
            {
                "type": 4,
                "name": "max_tokens",
                "description": "Most tokens",
                "min_value": 0,
                "max_value": 65536,
            },
            {"type": 10, "name": "temperature", "min_value": 0.0, "max_value": 2.0},
            {"type": 5, "name": "echo", "description": "Show the prompt"},
            {"type": 3, "name": "model", "autocomplete": True},
        ],
    },
    {
        "name": "preset",
        "description": "Presets",
        "options": [
            {
                "type": 1,
                "name": "create",
                "description": "Save one",
                "options": [
                    {"type": 3, "name": "name", "required": True, "max_length": 32},
                    {"type": 10, "name": "temperature", "min_value": 0.0, "max_value": 2.0},
                ],
            },
            {"type": 1, "name": "list", "description": "List them"},
        ],
    },
    {
        "name": "settings",
        "options": [
            {
                "type": 1,
                "name": "set",
                "options": [
                    {
                        "type": 3,
                        "name": "name",
                        "required": True,
                        "choices": [
                            {"name": "model — The model", "value": "model"},
                            {"name": "temperature — Randomness", "value": "temperature"},
                        ],
                    }
                ],
            }
        ],
    },
]


@pytest.mark.parametrize(
    "line",
    [
        '/complete prompt:"Once upon: a time" max_tokens:16',
        "/complete prompt:'it is' suffix:",
        r'/complete stop:"\n|END"',
        r'/complete prompt:"say \"hi\" \\ there"',
        r"/complete prompt:a\ b",
        'modal Prompt="two\nlines"',
        "  click   Next ▶  ",
        "/complete prompt:\"mixed\"'quotes'",
    ],
)
def test_words_read_a_finished_line_as_shlex_does(line: str) -> None:
    """Quotes, escapes inside and outside quotes, runs of spaces and newlines in quotes
    give the same words as shlex.split, which runs the line on Enter."""
    found, _ = words(line)
    assert [w.text for w in found] == shlex.split(line)
    for word in found:
        assert line[word.start : word.start + len(word.raw)] == word.raw


def test_words_tolerate_an_open_quote_and_say_so() -> None:
    """An unclosed quote (where shlex gives up) is the last word, marked open."""
    found, at_new_word = words('/complete prompt:"Once upon a')
    assert [w.text for w in found] == ["/complete", "prompt:Once upon a"]
    assert found[-1].open_quote == '"'
    assert not at_new_word
    assert raw_value(found[-1]) == '"Once upon a'


def test_words_tell_a_new_word_from_a_word_being_typed() -> None:
    """A trailing space outside quotes starts a new word; one inside quotes does not."""
    assert words("/complete ")[1] is True
    assert words("/complete")[1] is False
    assert words('/complete prompt:"a ')[1] is False
    assert words("")[1] is True


def test_read_slash_walks_subcommands_and_options() -> None:
    """Subcommand words are walked, option words collected, the word under the cursor kept."""
    state = read_slash("/preset create name:calm temp", COMMANDS)
    assert state is not None and state.definition is not None
    assert state.command == "preset create"
    assert not state.needs_subcommand
    assert [o["name"] for o in state.options] == ["name", "temperature"]
    assert list(state.given) == ["name"]
    assert state.current is not None and state.current.text == "temp"
    assert state.focused() is None  # an option name, not a value, is being typed


def test_read_slash_focuses_the_option_whose_value_is_typed() -> None:
    """`name:partial` under the cursor focuses that option with the text typed so far."""
    state = read_slash("/complete max_tokens:12", COMMANDS)
    assert state is not None
    focused = state.focused()
    assert focused is not None
    assert focused[0]["name"] == "max_tokens" and focused[1] == "12"


def test_read_slash_before_the_subcommand_and_outside_slash_lines() -> None:
    """`/preset ` needs a subcommand; a line not starting with / is not a slash line;
    an unknown command has no definition."""
    state = read_slash("/preset ", COMMANDS)
    assert state is not None and state.needs_subcommand
    assert read_slash("click Regenerate", COMMANDS) is None
    unknown = read_slash("/nope x:1", COMMANDS)
    assert unknown is not None and unknown.definition is None


def test_option_summary_gives_type_range_choices_and_need() -> None:
    """The toolbar's line: type with range or choices, required or not, description."""
    complete = COMMANDS[0]["options"]
    assert option_summary(complete[1]) == (
        "max_tokens: an integer from 0 to 65536, optional — Most tokens"
    )
    assert option_summary(complete[3]) == "echo: true or false, optional — Show the prompt"
    assert option_summary(complete[4]) == "model: a string (Tab asks the bot), optional"
    name = COMMANDS[2]["options"][0]["options"][0]
    assert option_summary(name) == "name: a string, one of model, temperature, required"
    localized = {**complete[1], "description_localizations": {"zh-CN": "最多生成的词元数"}}
    assert option_summary(localized, "zh-CN").endswith("— 最多生成的词元数")


def test_value_problem_checks_as_the_emulator_does() -> None:
    """Out of range, the wrong type, a choice not offered and an unknown option are said in
    the emulator's own words; a good value, and a member name, are not flagged."""
    state = read_slash("/complete ", COMMANDS)
    assert state is not None
    assert value_problem(state, "max_tokens", "99999") == (
        "/complete option 'max_tokens': 99999 is above max_value 65536."
    )
    assert value_problem(state, "temperature", "hot") == (
        "option 'temperature' needs a number, not 'hot'."
    )
    assert (
        value_problem(state, "echo", "maybe") == "option 'echo' needs true or false, not 'maybe'."
    )
    assert value_problem(state, "nope", "1") == (
        "/complete has no option 'nope' (options: prompt, max_tokens, temperature, echo, model)."
    )
    assert value_problem(state, "max_tokens", "16") is None
    settings = read_slash("/settings set ", COMMANDS)
    assert settings is not None
    assert "is not one of the choices ('model', 'temperature')" in str(
        value_problem(settings, "name", "colour")
    )
