"""Text cleaning for display.

`seed` is the original bot's rule, kept byte for byte: every control character
\x01-\x1f (newlines and tabs included) becomes a space, then runs of
whitespace collapse to one space. `preserve` (the default) keeps lines:
control characters other than newline and tab go, trailing spaces go, and
three or more blank lines in a row become one blank line.
"""

from __future__ import annotations

import re
from typing import Literal

CleanMode = Literal["seed", "preserve"]

# C0 controls except \t (09) and \n (0A), plus DEL and the C1 range.
_CONTROL_EXCEPT_NL_TAB = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BLANK_RUN = re.compile(r"\n(?:[ \t]*\n){3,}")


def clean_text(text: str, mode: CleanMode = "preserve") -> str:
    """Clean generated text for display in `mode` ("seed" or "preserve")."""
    if mode == "seed":
        text = re.sub(r"[\x01-\x1F]", " ", text)
        return " ".join(text.split())
    if mode != "preserve":
        raise ValueError(f"unknown clean mode {mode!r}: use seed or preserve")
    # Windows and old-Mac line ends are line breaks, not stray control characters.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_EXCEPT_NL_TAB.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_RUN.sub("\n\n", text)


class StreamCleaner:
    """Clean streamed text incrementally, giving the same result as `clean_text`.

    `feed(delta)` returns newly printable cleaned text; `flush()` the rest.
    Text that a later character could still change (a trailing line end or
    trailing spaces) is held back.
    """

    def __init__(self, mode: CleanMode = "preserve") -> None:
        self.mode = mode
        self.raw = ""
        self.emitted = ""

    def _take(self, cleaned: str) -> str:
        if not cleaned.startswith(self.emitted):
            return ""  # only possible at the very end; flush() settles it
        out = cleaned[len(self.emitted) :]
        self.emitted = cleaned
        return out

    def feed(self, delta: str) -> str:
        self.raw += delta
        cleaned = clean_text(self.raw, self.mode)
        if self.mode == "preserve":
            cleaned = cleaned.rstrip("\n")
        return self._take(cleaned)

    def flush(self) -> str:
        cleaned = clean_text(self.raw, self.mode)
        if cleaned.startswith(self.emitted):
            return self._take(cleaned)
        return ""
