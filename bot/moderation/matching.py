"""Keyword and pattern lists in Discord AutoMod's syntax, matched in linear time.

Keywords (case-insensitive; a phrase may have several words):

    cat      a whole word: bordered by the text's start or end, whitespace or punctuation
    cat*     a word starting with "cat"        *cat    a word ending with "cat"
    *cat*    "cat" anywhere, inside words too

Regex patterns are Discord's Rust flavour, run by RE2 (google-re2), which
guarantees time linear in the text: patterns are untrusted input, and a
pattern that would backtrack catastrophically elsewhere is just another
pattern here. RE2 refuses what it cannot run in linear time (back-references,
look-around); such a pattern is refused with one sentence. Unlike Rust's,
RE2's `\\w`, `\\d`, `\\s` and `\\b` are ASCII-only.

The allow list exempts: a match lying inside a match of an allow-list entry
does not count.

Discord's docs say a whole word is "surrounded by whitespace"; punctuation
counts as a border here too, so a keyword at the end of a sentence ("… cat.")
is still caught — stricter than the letter of the docs, never looser.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import re2

from bot.errors import CoupletError
from bot.i18n import Msg, _

# Discord's limits (AutoMod keyword rules).
KEYWORD_LENGTH = 60
REGEX_LENGTH = 260

# Letters, digits and combining marks make words; anything else borders them.
_LEFT = r"(?:^|[^\pL\pN\pM])"
_RIGHT = r"(?:$|[^\pL\pN\pM])"

Kind = Literal["keyword", "regex"]


class InvalidPattern(CoupletError):
    """A keyword or regex that cannot be used; the sentence says which and why."""

    def __init__(self, value: str, reason: str | Msg) -> None:
        super().__init__(
            _("The pattern {value} can't be used: {reason}.", value=repr(value), reason=reason)
        )
        self.value = value
        self.reason = reason


def _too_long(limit: int) -> Msg:
    return _("it is longer than {limit} characters", limit=limit)


def _options() -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # a refused pattern is answered, not printed to stderr
    return options


_OPTIONS = _options()


def compile_regex(pattern: str) -> Any:
    """An RE2 regex (case-insensitive) or InvalidPattern naming what is wrong."""
    if not pattern.strip():
        raise InvalidPattern(pattern, _("it is empty"))
    if len(pattern) > REGEX_LENGTH:
        raise InvalidPattern(pattern, _too_long(REGEX_LENGTH))
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as err:
        reason = err.args[0] if err.args else "it does not compile"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise InvalidPattern(pattern, str(reason).rstrip(".")) from None


def check_keyword(keyword: str) -> str:
    """The keyword, stripped; InvalidPattern when it is empty or too long."""
    value = keyword.strip()
    if not value.strip("*").strip():
        raise InvalidPattern(keyword, _("it has no letters besides the wildcards"))
    if len(value) > KEYWORD_LENGTH:
        raise InvalidPattern(keyword, _too_long(KEYWORD_LENGTH))
    return value


def _keyword_body(keyword: str) -> str:
    core = keyword.strip("*")
    # Whitespace inside a phrase matches any run of whitespace (line breaks too).
    return r"\s+".join(re2.escape(word) for word in core.split())


def _keyword_pattern(keywords: Sequence[str]) -> Any | None:
    """One RE2 program for a list of keywords; group 1 is the keyword's own text."""
    if not keywords:
        return None
    # The borders each wildcard shape needs, keyed by (left border, right border).
    groups: dict[tuple[bool, bool], list[str]] = {}
    for keyword in keywords:
        key = (not keyword.startswith("*"), not keyword.endswith("*"))
        groups.setdefault(key, []).append(_keyword_body(keyword))
    branches = []
    for (left, right), bodies in groups.items():
        branches.append(
            (_LEFT if left else "") + "(" + "|".join(bodies) + ")" + (_RIGHT if right else "")
        )
    # One group per shape: the keyword's span is whichever group took part.
    return re2.compile("|".join(branches), _OPTIONS)


@dataclass(frozen=True)
class Hit:
    """Where a keyword or regex matched (character offsets), and which list entry it was."""

    kind: Kind
    start: int
    end: int


def _spans(program: Any, text: str, *, keyword: bool) -> Iterator[tuple[int, int]]:
    """Every (start, end) of `program`'s matches in `text`, left to right.

    For a keyword program the span is the keyword's own text (the group that
    took part), not the borders around it; the search restarts right after
    it, so the character bordering one match can border the next ("cat cat").
    An empty match finds nothing worth withholding and is skipped.
    """
    pos = 0
    while pos <= len(text):
        match = program.search(text, pos)
        if match is None:
            return
        groups = [i for i in range(1, (match.re.groups or 0) + 1) if match.start(i) >= 0]
        start, end = match.span(groups[0]) if keyword and groups else match.span()
        if end > start:
            yield start, end
        pos = max(end, match.start() + 1)


@dataclass(frozen=True)
class Matcher:
    """A compiled list: keywords, regexes and the allow list (see the module docstring)."""

    keywords: Any | None
    regexes: tuple[Any, ...]
    allow: Any | None

    @classmethod
    def build(
        cls,
        keywords: Sequence[str] = (),
        regexes: Sequence[str] = (),
        allow: Sequence[str] = (),
        *,
        skip_invalid: bool = False,
    ) -> Matcher:
        """Compile the lists; InvalidPattern on the first bad entry (unless `skip_invalid`)."""
        return cls(
            _keyword_pattern(_kept(keywords, check_keyword, skip_invalid)),
            tuple(_kept(regexes, compile_regex, skip_invalid)),
            _keyword_pattern(_kept(allow, check_keyword, skip_invalid)),
        )

    @property
    def empty(self) -> bool:
        return self.keywords is None and not self.regexes

    def hits(self, text: str) -> list[Hit]:
        """Every match not exempted by the allow list, in order of appearance."""
        if self.empty or not text:
            return []
        found = (
            [Hit("keyword", s, e) for s, e in _spans(self.keywords, text, keyword=True)]
            if self.keywords
            else []
        )
        for program in self.regexes:
            found.extend(Hit("regex", s, e) for s, e in _spans(program, text, keyword=False))
        if found and self.allow is not None:
            allowed = list(_spans(self.allow, text, keyword=True))
            found = [h for h in found if not any(a <= h.start and h.end <= b for a, b in allowed)]
        return sorted(found, key=lambda h: (h.start, h.end))


def _kept(entries: Sequence[str], check: Callable[[str], Any], skip_invalid: bool) -> list[Any]:
    """`check(entry)` of each entry; a bad one raises InvalidPattern, or is left out."""
    kept = []
    for entry in entries:
        try:
            kept.append(check(entry))
        except InvalidPattern:
            if not skip_invalid:
                raise
    return kept
