"""A /sampling outcome in words: the caption, the text fallback table, the message.

Pure functions over strings. The chart itself is drawn by
bot.render.sampling_chart; what is said here is what the chart shows, for
people who can't see images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.i18n import Localized, Msg, _, join, ngettext, render
from bot.i18n import number as locale_number
from bot.i18n import percent as fraction
from bot.render.logprobs import shown_token
from bot.render.reply import EMPTY_PROMPT, quote
from bot.render.text import MESSAGE_LIMIT, columns, cut_units, ulen

if TYPE_CHECKING:
    from bot.services.sampling import SamplingOutcome
    from bot.services.sampling_math import SamplingPicture

# The prompt's end shown above the chart.
PROMPT_TAIL = 300
# Tokens named in the caption before "and N more".
CAPTION_TOKENS = 6
OTHER_LABEL = _("other (unlisted)")


def percent(p: float, locale: str | None = None) -> str:
    """41%, 4.2%, <0.1%, >99.9%: whole percents between 10% and 99%, else one decimal."""
    if p <= 0:
        return render(fraction(0), locale)
    if p >= 1:
        return render(fraction(1), locale)
    if p < 0.0005:
        return "<" + render(fraction(0.001, 1), locale)
    if p > 0.9995:
        return ">" + render(fraction(0.999, 1), locale)
    if 0.1 <= p <= 0.99:
        return render(fraction(p), locale)
    return render(fraction(p, 1), locale)


def number(value: float) -> str:
    """0.5, 1, 0.95: as typed (parameter values are the API's, in any language)."""
    return f"{value:g}"


def _named(tokens: Sequence[str]) -> Localized:
    shown: list[str | Msg] = [shown_token(t) for t in tokens[:CAPTION_TOKENS]]
    if len(tokens) > CAPTION_TOKENS:
        shown.append(_("and {count} more", count=len(tokens) - CAPTION_TOKENS))
    return join(shown)


def top_p_clause(pic: SamplingPicture) -> Msg:
    """`top_p 0.9 keeps 4 tokens: " Paris", …` (or every token, or some unlisted too)."""
    nucleus = pic.nucleus
    listed = len(pic.tokens)
    kept = pic.tokens[: nucleus.count]
    top_p = number(pic.top_p)
    if pic.top_p >= 1:
        return _("top_p {top_p} keeps every token", top_p=top_p)
    if nucleus.includes_other:
        return _(
            "top_p {top_p} keeps all {count} listed tokens and some unlisted ones",
            top_p=top_p,
            count=listed,
        )
    return ngettext(
        "top_p {top_p} keeps {n} token: {tokens}",
        "top_p {top_p} keeps {n} tokens: {tokens}",
        nucleus.count,
        top_p=top_p,
        tokens=_named(kept),
    )


def temperature_clause(pic: SamplingPicture) -> Msg:
    """`at temperature 0.5 the likeliest token (" Paris") goes from 41% to 72%`."""
    top = shown_token(pic.tokens[0])
    before, after = _Share(pic.base.listed[0]), _Share(pic.reshaped.listed[0])
    t = number(pic.temperature)
    if pic.temperature == 0:
        return _(
            "at temperature 0 the likeliest token ({token}) is always chosen: {before} → {after}",
            token=top,
            before=before,
            after=_Share(1),
        )
    if pic.temperature == 1:
        return _(
            "at temperature 1 the odds are the model's own: {token} has {before}",
            token=top,
            before=before,
        )
    return _(
        "at temperature {t} the likeliest token ({token}) goes from {before} to {after}",
        t=t,
        token=top,
        before=before,
        after=after,
    )


def honesty_note(pic: SamplingPicture, backend: str) -> Localized:
    """What the numbers are computed over, and in which order the server applies them."""
    listed = len(pic.tokens)
    other = pic.base.other
    if other > 0:
        note = _(
            "Computed over the {count} tokens the backend listed plus the unlisted "
            '{other} ("other"), which is reshaped as if each unlisted token were as '
            "likely as the least likely listed one.",
            count=listed,
            other=_Share(other),
        )
    else:
        note = _(
            "Computed over the {count} tokens the backend listed, which hold all the odds.",
            count=listed,
        )
    if pic.top_p_before_temperature:
        order = _(
            "{backend} applies top_p at temperature 1, before the temperature.", backend=backend
        )
    else:
        order = _("{backend} applies top_p after the temperature.", backend=backend)
    return join((note, order), "sentences")


def caption(outcome: SamplingOutcome, locale: str | None = None) -> str:
    """The chart in words: top_p's kept set, the temperature's effect, the honesty note."""
    pic = outcome.picture
    # Starts with the parameter's own name, lower case as the API spells it.
    text = _(
        "{top_p}; {temperature}. {note}",
        top_p=top_p_clause(pic),
        temperature=temperature_clause(pic),
        note=honesty_note(pic, outcome.backend),
    )
    return render(text, locale)


def samples_sentence(outcome: SamplingOutcome, locale: str | None = None) -> str | None:
    """`10 samples: " Paris" ×7, " the" ×3 (expected 7.6, 2.1, …)`, or None before sampling."""
    if outcome.samples is None:
        return None
    pic = outcome.picture
    counts, other = outcome.sample_counts()
    total = len(outcome.samples)
    drawn: list[str | Msg] = [
        f"{shown_token(t)} ×{c}" for t, c in zip(pic.tokens, counts, strict=True) if c
    ]
    if other:
        drawn.append(_("unlisted ×{count}", count=other))
    expected: list[str | Msg] = [
        f"{shown_token(t)} {render(locale_number(p * total, 1), locale)}"
        for t, p in zip(pic.tokens, pic.sampling.listed, strict=True)
        if p * total >= 0.05
    ]
    if pic.sampling.other * total >= 0.05:
        # An upper bound: top_p keeps only the likelier part of the unlisted tokens.
        expected.append(_("unlisted ≤{count}", count=locale_number(pic.sampling.other * total, 1)))
    sentence = _(
        "Sample it: {total} samples at temperature {t}, top_p {top_p}: {drawn} "
        "(expected: {expected}).",
        total=total,
        t=number(pic.temperature),
        top_p=number(pic.top_p),
        drawn=join(drawn) if drawn else _("none"),
        expected=join(expected),
    )
    return render(sentence, locale)


class _Share(Localized):
    """A probability as `percent` shows it, in the sentence's locale."""

    def __init__(self, p: float) -> None:
        self.p = p

    def render(self, locale: str | None = None) -> str:
        return percent(self.p, locale)


def table(outcome: SamplingOutcome, locale: str | None = None) -> str:
    """The text fallback: one row per token, T=1 and T side by side, kept, samples."""
    pic = outcome.picture
    counts, other_count = outcome.sample_counts()

    def say(text: Msg) -> str:
        return render(text, locale)

    heading = [say(_("token")), "T=1", f"T={number(pic.temperature)}", "top_p"]
    if outcome.samples is not None:
        heading.append(say(_("sampled")))
    rows: list[list[str]] = [heading]
    for i, token in enumerate(pic.tokens):
        row = [
            shown_token(token),
            percent(pic.base.listed[i], locale),
            percent(pic.reshaped.listed[i], locale),
            say(_("kept")) if pic.nucleus.kept(i) else "—",
        ]
        if outcome.samples is not None:
            row.append(str(counts[i]))
        rows.append(row)
    if pic.base.other > 0 or other_count:
        row = [
            say(OTHER_LABEL),
            percent(pic.base.other, locale),
            percent(pic.reshaped.other, locale),
            say(_("some")) if pic.nucleus.includes_other else "—",
        ]
        if outcome.samples is not None:
            row.append(str(other_count))
        rows.append(row)
    widths = [max(columns(r[c]) for r in rows) for c in range(len(heading))]

    def pad(cell: str, c: int) -> str:
        room = " " * (widths[c] - columns(cell))
        return cell + room if c == 0 else room + cell

    lines = ["  ".join(pad(cell, c) for c, cell in enumerate(r)).rstrip() for r in rows]
    return "```\n" + "\n".join(lines) + "\n```"


def prompt_tail(prompt: str, limit: int = PROMPT_TAIL, locale: str | None = None) -> str:
    """The end of the prompt as a quote (the chart is about what comes right after it)."""
    tail = prompt[-limit:] if len(prompt) > limit else prompt
    shown = ("…" + tail) if len(prompt) > limit else tail
    return quote(shown.replace("```", "`\u200b``") or EMPTY_PROMPT.render(locale))


def footer(outcome: SamplingOutcome, locale: str | None = None) -> str:
    parts = [p for p in (outcome.model, outcome.backend) if p]
    lines = ["-# " + " · ".join(parts)] if parts else []
    lines.extend(f"-# {render(note, locale)}" for note in outcome.notes)
    return "\n".join(lines)


def sampling_content(
    outcome: SamplingOutcome, limit: int = MESSAGE_LIMIT, locale: str | None = None
) -> str:
    """The message under the chart: prompt tail, caption, samples, the table, a footer."""
    parts = [caption(outcome, locale)]
    sampled = samples_sentence(outcome, locale)
    if sampled:
        parts.append(sampled)
    parts.append(table(outcome, locale))
    below = footer(outcome, locale)
    tail = "\n".join(parts) + ("\n" + below if below else "")
    head = render(_("Next token after:"), locale) + "\n"
    budget = limit - ulen(tail) - ulen(head) - 1
    if budget < 40:
        return cut_units(tail, limit)
    return f"{head}{cut_units(prompt_tail(outcome.prompt, locale=locale), budget)}\n{tail}"
