"""Stop sequences: parsing user input and enforcing stops client-side."""

from __future__ import annotations

import json

from bot.completions.parameters import MAX_STOPS
from bot.completions.request import too_many_stops
from bot.errors import ParameterError
from bot.i18n import Msg, _

_ESCAPES = {"n": "\n", "t": "\t", "|": "|", "\\": "\\"}
_ALLOWED = _(
    r"1 to {count} sequences separated by | (escapes \n, \t, \|, \\) or a JSON array of text",
    count=MAX_STOPS,
)


def _refused(text: str, sentence: Msg) -> ParameterError:
    return ParameterError("stop", text, _ALLOWED, sentence)


def parse_stop(text: str) -> list[str]:
    r"""Parse `a|b|c` (with `\n`, `\t`, `\|`, `\\` escapes) or a JSON array into stops."""
    raw = text.strip() if text.strip().startswith("[") else text
    if raw.startswith("["):
        try:
            value = json.loads(raw)
        except ValueError:
            raise _refused(
                text,
                _(
                    "stop {value} is not a valid JSON array: use {allowed}.",
                    value=repr(text[:40]),
                    allowed=_ALLOWED,
                ),
            ) from None
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            raise _refused(
                text,
                _(
                    "stop {value} must be an array of text: use {allowed}.",
                    value=repr(text[:40]),
                    allowed=_ALLOWED,
                ),
            )
        stops = value
    else:
        stops, current, i = [], [], 0
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPES:
                current.append(_ESCAPES[text[i + 1]])
                i += 2
                continue
            if ch == "|":
                stops.append("".join(current))
                current = []
            else:
                current.append(ch)
            i += 1
        stops.append("".join(current))
    if not stops:
        raise _refused(
            text,
            _(
                "stop {value} has no sequences: use {allowed}.",
                value=repr(text[:40]),
                allowed=_ALLOWED,
            ),
        )
    if any(s == "" for s in stops):
        raise _refused(
            text,
            _(
                "stop {value} has an empty sequence: use {allowed}.",
                value=repr(text[:40]),
                allowed=_ALLOWED,
            ),
        )
    if len(stops) > MAX_STOPS:
        raise too_many_stops(text, len(stops))
    return stops


def find_stop(text: str, stops: list[str] | None, start: int = 0) -> int | None:
    """Index of the earliest stop sequence in `text[start:]`, or None."""
    if not stops:
        return None
    hits = [i for s in stops if (i := text.find(s, start)) != -1]
    return min(hits) if hits else None


class StopScanner:
    """Enforce stops on streamed text: hold back max(len(stop)) - 1 characters.

    `feed(delta)` returns the text that is safe to show; `.stopped` turns true
    once a stop sequence is found (the text before it has been returned).
    """

    def __init__(self, stops: list[str] | None) -> None:
        self.stops = stops or []
        self.hold = max((len(s) for s in self.stops), default=1) - 1
        self.pending = ""
        self.stopped = False

    def feed(self, delta: str) -> str:
        if self.stopped:
            return ""
        self.pending += delta
        cut = find_stop(self.pending, self.stops)
        if cut is not None:
            self.stopped = True
            out, self.pending = self.pending[:cut], ""
            return out
        if self.hold <= 0:
            out, self.pending = self.pending, ""
            return out
        out, self.pending = self.pending[: -self.hold], self.pending[-self.hold :]
        return out

    def flush(self) -> str:
        out, self.pending = ("" if self.stopped else self.pending), ""
        return out
