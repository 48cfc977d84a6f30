"""Splitting long text into Discord-sized messages without breaking code fences.

Discord limits message content to 2,000 characters. We measure in UTF-16 code
units, which is never less than the code-point count, so a piece that fits
here fits Discord whichever way it counts.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MESSAGE_LIMIT = 2000

# A CommonMark-style fence line: up to three spaces, then ``` or ~~~ (or more).
_FENCE = re.compile(r"^ {0,3}(?P<marker>`{3,}|~{3,})(?P<info>.*)$")


def ulen(text: str) -> int:
    """Length in UTF-16 code units (what JavaScript and Discord's clients count)."""
    return len(text.encode("utf-16-le")) // 2


def columns(text: str) -> int:
    """How many columns `text` takes in a monospace block (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def cut_units(text: str, units: int) -> str:
    """The longest prefix of `text` that is at most `units` UTF-16 code units long."""
    if units <= 0:
        return ""
    if ulen(text) <= units:
        return text
    # Count per character; astral characters take two units.
    total = 0
    for i, char in enumerate(text):
        total += 2 if ord(char) > 0xFFFF else 1
        if total > units:
            return text[:i]
    return text


@dataclass(frozen=True)
class _Fence:
    """An open code fence: the line that opened it and the marker that closes it."""

    opener: str
    marker: str

    @property
    def closer(self) -> str:
        return self.marker


def _next_fence(line: str, fence: _Fence | None) -> _Fence | None:
    """The fence state after `line`, given the state before it."""
    match = _FENCE.match(line)
    if not match:
        return fence
    marker, info = match["marker"], match["info"]
    if fence is None:
        # Backtick fences may not have backticks in their info string.
        if marker[0] == "`" and "`" in info:
            return None
        return _Fence(opener=line.lstrip(" "), marker=marker)
    if marker[0] == fence.marker[0] and len(marker) >= len(fence.marker) and not info.strip():
        return None
    return fence


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split `text` into pieces of at most `limit` units.

    Breaks at a paragraph (blank line) when one falls in the second half of a
    piece, else at a line end, else at a space, else anywhere. A code fence
    open at a break is closed at the end of the piece and re-opened (with its
    language) at the start of the next one.
    """
    if ulen(text) <= limit:
        return [text] if text.strip() else []
    lines = text.split("\n")
    states: list[_Fence | None] = []  # fence state *before* each line
    fence: _Fence | None = None
    for line in lines:
        states.append(fence)
        fence = _next_fence(line, fence)
    states.append(fence)

    pieces: list[str] = []
    i = 0
    carry: str | None = None  # the rest of a line that was cut
    while i < len(lines):
        line_i = carry if carry is not None else lines[i]
        before = states[i]
        prefix = before.opener + "\n" if before else ""
        size = ulen(prefix)
        last_ok: int | None = None
        best_para: int | None = None
        best_para_size = 0
        j = i
        while j < len(lines):
            line = line_i if j == i else lines[j]
            add = ulen(line) + (1 if j > i else 0)
            after = states[j + 1]
            closing = ulen("\n" + after.closer) if after else 0
            if size + add + closing > limit:
                break
            size += add
            last_ok = j
            if j > i and not line.strip() and after is None:
                best_para, best_para_size = j, size
            j += 1

        if last_ok is None:
            # One line longer than a whole piece: cut it at a space or hard.
            closing = ulen("\n" + before.closer) if before else 0
            budget = limit - ulen(prefix) - closing
            head = cut_units(line_i, budget)
            space = head.rfind(" ")
            if space > budget // 2:
                head = head[: space + 1]
            body = prefix + head.rstrip() + ("\n" + before.closer if before else "")
            _append(pieces, body)
            carry = line_i[len(head) :]
            if not carry:
                carry = None
                i += 1
            continue

        if j >= len(lines):
            end = len(lines) - 1
        elif best_para is not None and best_para_size >= limit // 2:
            end = best_para
        else:
            end = last_ok
        chunk = [line_i, *lines[i + 1 : end + 1]]
        after = states[end + 1]
        body = prefix + "\n".join(chunk) + ("\n" + after.closer if after else "")
        _append(pieces, body)
        carry = None
        i = end + 1
    return pieces


def _append(pieces: list[str], body: str) -> None:
    """Add a piece unless it is only whitespace (Discord rejects empty messages)."""
    body = body.strip("\n").rstrip()
    if body.strip():
        pieces.append(body)
