"""Laying out a completion as Discord messages: body, footer, pieces, attachment.

Pure functions over strings; the cog turns a `ReplyLayout` into messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.i18n import Msg, _, ngettext, number, render
from bot.render.text import MESSAGE_LIMIT, split_text, ulen

# Past this many messages the whole text goes into a file instead.
MAX_MESSAGES = 3
# Footer notes (clamps, warnings) beyond this are summarised, so that the
# footer never crowds out the text.
MAX_NOTES = 5
EMPTY_COMPLETION = _("*(The model returned no text.)*")
EMPTY_PROMPT = _("(empty prompt)")


@dataclass
class FooterInfo:
    """What the small line under a completion says."""

    model: str | None = None
    completion_tokens: int | None = None
    # True when the token count covers every candidate, not just this one.
    tokens_in_all: bool = False
    finish_reason: str | None = None
    elapsed: float | None = None
    # (k, n), 1-based, when there are several candidates.
    candidate: tuple[int, int] | None = None
    rank: int | None = None
    mean_logprob: float | None = None
    notes: list[str | Msg] = field(default_factory=list)


@dataclass
class ReplyLayout:
    """Message contents in order (footer in the last) and an optional text file."""

    contents: list[str]
    attachment: tuple[str, str] | None = None  # (filename, full text)


def format_seconds(seconds: float) -> Msg:
    """`0.4 s`, `12 s`, `2 min 5 s` (in the locale's words when rendered)."""
    if seconds < 10:
        return _("{seconds} s", seconds=number(seconds, 1))
    if seconds < 60:
        return _("{seconds} s", seconds=number(seconds, 0))
    minutes, rest = divmod(round(seconds), 60)
    return _("{minutes} min {seconds} s", minutes=minutes, seconds=rest)


def footer_text(info: FooterInfo, locale: str | None = None) -> str:
    """Discord subtext lines (`-# …`): model · tokens · finish reason · time, then notes."""
    parts: list[str | Msg] = []
    if info.candidate and info.candidate[1] > 1:
        parts.append(_("candidate {k}/{n}", k=info.candidate[0], n=info.candidate[1]))
    if info.rank is not None:
        parts.append(_("rank {rank}", rank=info.rank))
    if info.mean_logprob is not None:
        parts.append(_("mean logprob {value}", value=number(info.mean_logprob, 2)))
    if info.model:
        parts.append(info.model)
    if info.completion_tokens is not None:
        count = info.completion_tokens
        if info.tokens_in_all:
            parts.append(ngettext("{n} token in all", "{n} tokens in all", count))
        else:
            parts.append(ngettext("{n} token", "{n} tokens", count))
    if info.finish_reason:
        parts.append(info.finish_reason)  # the API's own word (stop, length)
    if info.elapsed is not None:
        parts.append(format_seconds(info.elapsed))
    shown = [render(part, locale) for part in parts]
    lines = ["-# " + " · ".join(shown)] if shown else []
    notes = [text.strip() for note in info.notes if (text := render(note, locale)).strip()]
    for note in notes[:MAX_NOTES]:
        lines.append("-# " + note.replace("\n", " "))
    if len(notes) > MAX_NOTES:
        more = len(notes) - MAX_NOTES
        lines.append(
            "-# " + render(ngettext("…and {n} more note.", "…and {n} more notes.", more), locale)
        )
    return "\n".join(lines)


def quote(text: str) -> str:
    """A Discord quote block, one `> ` per line so that it survives splitting."""
    return "\n".join("> " + line for line in text.split("\n"))


def compose_body(completion: str, prompt: str | None = None, locale: str | None = None) -> str:
    """The completion as message text; with `prompt`, the prompt quoted before it."""
    # Leading and trailing blank lines would be trimmed by Discord anyway.
    text = completion.strip("\n") if completion.strip() else EMPTY_COMPLETION.render(locale)
    if prompt is None:
        return text
    shown = prompt if prompt.strip() else EMPTY_PROMPT.render(locale)
    # The blank line ends the quote block, so the completion reads as plain text.
    return f"{quote(shown)}\n\n{text}"


def layout_reply(
    body: str,
    footer: str = "",
    *,
    file_text: str | None = None,
    filename: str = "completion.txt",
    limit: int = MESSAGE_LIMIT,
    max_messages: int = MAX_MESSAGES,
    locale: str | None = None,
) -> ReplyLayout:
    """Fit `body` + `footer` into at most `max_messages` messages, else attach a file.

    With too many pieces the one message shows the beginning of the text, says
    that the whole text is attached, and carries `file_text` (default: `body`).
    """
    tail = "\n" + footer if footer else ""
    if ulen(body + tail) <= limit:
        return ReplyLayout([body + tail])
    pieces = split_text(body, limit)
    if pieces and ulen(pieces[-1] + tail) <= limit:
        pieces[-1] += tail
    elif footer:
        pieces.append(footer)
    if len(pieces) <= max_messages:
        return ReplyLayout(pieces)
    full = file_text if file_text is not None else body
    note = "-# " + render(
        _(
            "The whole text ({count} characters) is in the attached file.",
            count=number(len(full)),
        ),
        locale,
    )
    budget = limit - ulen("\n…\n" + note + tail)
    preview = split_text(body, budget)[0] if budget > 0 else ""
    content = f"{preview}\n…\n{note}{tail}" if preview else f"{note}{tail}"
    return ReplyLayout([content], (filename, full))
