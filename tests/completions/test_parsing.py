"""parse_stop and parse_logit_bias: the text forms users type."""

from __future__ import annotations

import pytest

from bot.completions import parse_logit_bias, parse_stop
from bot.errors import ParameterError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("END", ["END"]),
        ("a|b|c", ["a", "b", "c"]),
        (r"\n\n|###", ["\n\n", "###"]),
        (r"a\|b|c", ["a|b", "c"]),
        (r"tab\there", ["tab\there"]),
        (r"back\\slash|x", ["back\\slash", "x"]),
        (r"\q", ["\\q"]),  # unknown escapes stay as typed
        ('["a", "b|c", "\\n"]', ["a", "b|c", "\n"]),
        (" lead and trail ", [" lead and trail "]),
    ],
)
def test_parse_stop(text: str, expected: list[str]) -> None:
    """Pipes separate, escapes decode, a JSON array is taken as is."""
    assert parse_stop(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a|b|c|d|e", "stop has 5 sequences: use 1 to 4."),
        ("a||b", "has an empty sequence"),
        ("", "has an empty sequence"),
        ("[]", "stop '[]' has no sequences: use 1 to 4"),
        ("[1, 2]", "must be an array of text"),
        ('["a", ', "is not a valid JSON array"),
        ('["a","b","c","d","e"]', "stop has 5 sequences"),
    ],
)
def test_parse_stop_errors(text: str, fragment: str) -> None:
    """Bad stop text raises ParameterError(param='stop') with a clear sentence."""
    with pytest.raises(ParameterError) as info:
        parse_stop(text)
    assert info.value.param == "stop"
    assert fragment in str(info.value)
    assert str(info.value).endswith(".")


@pytest.mark.parametrize(
    ("text", "ids", "words"),
    [
        ('{"50256": -100}', {"50256": -100}, {}),
        ('{"50256": -100, "Paris": 5}', {"50256": -100}, {"Paris": 5}),
        ("hello=-100", {}, {"hello": -100}),
        ("hello=-100, world=+5 ,  13=2", {"13": 2}, {"hello": -100, "world": 5}),
        ("New York=-20", {}, {"New York": -20}),
        ("a=b=3", {}, {"a=b": 3}),
        ("==5", {}, {"=": 5}),
        ('{"²": 5}', {}, {"²": 5}),  # a digit int() cannot read is a word, not a token id
        ("²=5", {}, {"²": 5}),
    ],
)
def test_parse_logit_bias(text: str, ids: dict, words: dict) -> None:
    """JSON objects and word=bias pairs split into token ids and words."""
    assert parse_logit_bias(text) == (ids, words)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "logit_bias is empty"),
        ("hello", "logit_bias part 'hello' is not word=bias"),
        ("=5", "is not word=bias"),
        ("hello=lots", "logit_bias value 'lots' for 'hello' is not allowed"),
        (
            "hello=500",
            "logit_bias value 500 for 'hello' is not allowed: use a whole number from -100 to 100.",
        ),
        ('{"50256": -100', "is not valid JSON"),
        ('{"50256": 1000}', "logit_bias value 1000 for token 50256 is not allowed"),
        ("[1, 2]", "is not word=bias"),
        (
            "hello=5 world=3",
            "logit_bias part 'hello=5 world=3' holds several pairs: separate word=bias pairs "
            "with commas",
        ),
        ("hello=5, hello=-5", "logit_bias gives 'hello' twice: give each word one bias."),
    ],
)
def test_parse_logit_bias_errors(text: str, fragment: str) -> None:
    """Bad logit_bias text raises ParameterError(param='logit_bias') with a clear sentence."""
    with pytest.raises(ParameterError) as info:
        parse_logit_bias(text)
    assert info.value.param == "logit_bias"
    assert fragment in str(info.value)
