"""Word and pattern lists in AutoMod syntax, matched with RE2."""

from __future__ import annotations

import pytest

from bot.moderation.matching import InvalidPattern, Matcher


def matched(matcher: Matcher, text: str) -> list[str]:
    return [text[h.start : h.end] for h in matcher.hits(text)]


@pytest.mark.parametrize(
    ("keyword", "text", "expected"),
    [
        ("cat", "a cat sat", ["cat"]),
        ("cat", "A CAT.", ["CAT"]),  # case-insensitive; punctuation borders a word
        ("cat", "catch", []),  # whole word only
        ("cat*", "Catapult and CAttLE", ["Cat", "CAt"]),  # prefix
        ("cat*", "wildcat", []),
        ("*cat", "wildcat copyCat", ["cat", "Cat"]),  # suffix
        ("*cat", "catch", []),
        ("*cat*", "location, eduCation", ["cat", "Cat"]),  # anywhere
        ("the mat", "on the  mat\n", ["the  mat"]),  # a phrase; any whitespace between
        ("the mat*", "the matrix", ["the mat"]),
        ("café", "Un CAFÉ noir", ["CAFÉ"]),  # Unicode letters and case
        ("i like c++", "I like C++ a lot", ["I like C++"]),  # escaped, not a regex
    ],
)
def test_keyword_shapes(keyword: str, text: str, expected: list[str]) -> None:
    """Each of Discord's matching strategies finds what its documentation lists."""
    assert matched(Matcher.build([keyword]), text) == expected


def test_allow_list_exempts_matches_inside_it() -> None:
    """An allow-list entry exempts the matches it contains, not others in the same text."""
    matcher = Matcher.build(["*cat*"], allow=["education", "black cat"])
    assert matched(matcher, "education") == []
    assert matched(matcher, "a black cat") == []
    assert matched(matcher, "education and a cat") == ["cat"]


def test_regexes_are_case_insensitive_and_spanned() -> None:
    """Regex patterns match case-insensitively and report what they matched."""
    matcher = Matcher.build(regexes=[r"(b|c)at\d+", r"^(?:[0-9]{1,3}\.){3}[0-9]{1,3}$"])
    assert matched(matcher, "BAT42 and cat") == ["BAT42"]
    assert matched(matcher, "10.0.0.1") == ["10.0.0.1"]


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(unclosed", "missing )"),
        (r"(\w+)\1", "invalid escape sequence"),  # back-references need backtracking
        ("a(?=b)", "invalid perl operator"),  # look-ahead too
        ("x" * 261, "longer than 260 characters"),
        ("   ", "empty"),
    ],
)
def test_a_pattern_that_cannot_be_used_is_refused_with_one_sentence(
    pattern: str, reason: str
) -> None:
    """A bad pattern raises InvalidPattern whose one sentence names it and the reason."""
    with pytest.raises(InvalidPattern) as caught:
        Matcher.build(regexes=[pattern])
    sentence = caught.value.message
    assert reason in sentence and sentence.count("\n") == 0
    assert sentence.startswith("The pattern ")


def test_catastrophic_backtracking_pattern_runs_in_linear_time() -> None:
    """`(a+)+$` on 100,000 a's and a b (exponential for a backtracking engine) answers."""
    matcher = Matcher.build(regexes=["(a+)+$"])
    assert matcher.hits("a" * 100_000 + "b") == []
    assert len(matcher.hits("a" * 100_000)) == 1


def test_bad_entries_from_discord_are_skipped_when_asked() -> None:
    """Rules read from Discord keep their usable entries when one is not RE2's."""
    matcher = Matcher.build(["dog"], [r"(\w)\1", "b.t"], skip_invalid=True)
    assert matched(matcher, "dog bat") == ["dog", "bat"]
