"""A /sampling outcome in words: the caption, the text fallback table, the message.

Pure functions over strings. The chart itself is drawn by
bot.render.sampling_chart; what is said here is what the chart shows, for
people who can't see images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.render.logprobs import shown_token
from bot.render.reply import quote
from bot.render.text import MESSAGE_LIMIT, cut_units, ulen

if TYPE_CHECKING:
    from bot.services.sampling import SamplingOutcome
    from bot.services.sampling_math import SamplingPicture

# The prompt's end shown above the chart.
PROMPT_TAIL = 300
# Tokens named in the caption before "and N more".
CAPTION_TOKENS = 6
OTHER_LABEL = "other (unlisted)"


def percent(p: float) -> str:
    """41%, 4.2%, <0.1%, >99.9%: whole percents between 10% and 99%, else one decimal."""
    if p <= 0:
        return "0%"
    if p >= 1:
        return "100%"
    if p < 0.0005:
        return "<0.1%"
    if p > 0.9995:
        return ">99.9%"
    if 0.1 <= p <= 0.99:
        return f"{p:.0%}"
    return f"{p:.1%}"


def number(value: float) -> str:
    """0.5, 1, 0.95: as typed."""
    return f"{value:g}"


def _named(tokens: Sequence[str]) -> str:
    shown = [shown_token(t) for t in tokens[:CAPTION_TOKENS]]
    if len(tokens) > CAPTION_TOKENS:
        shown.append(f"and {len(tokens) - CAPTION_TOKENS} more")
    return ", ".join(shown)


def top_p_clause(pic: SamplingPicture) -> str:
    """`top_p 0.9 keeps 4 tokens: " Paris", …` (or every token, or some unlisted too)."""
    nucleus = pic.nucleus
    listed = len(pic.tokens)
    kept = pic.tokens[: nucleus.count]
    if pic.top_p >= 1:
        return f"top_p {number(pic.top_p)} keeps every token"
    if nucleus.includes_other:
        return f"top_p {number(pic.top_p)} keeps all {listed} listed tokens and some unlisted ones"
    unit = "token" if nucleus.count == 1 else "tokens"
    return f"top_p {number(pic.top_p)} keeps {nucleus.count} {unit}: {_named(kept)}"


def temperature_clause(pic: SamplingPicture) -> str:
    """`at temperature 0.5 the likeliest token (" Paris") goes from 41% to 72%`."""
    top = shown_token(pic.tokens[0])
    before, after = percent(pic.base.listed[0]), percent(pic.reshaped.listed[0])
    t = number(pic.temperature)
    if pic.temperature == 0:
        return f"at temperature 0 the likeliest token ({top}) is always chosen: {before} → 100%"
    if pic.temperature == 1:
        return f"at temperature 1 the odds are the model's own: {top} has {before}"
    return f"at temperature {t} the likeliest token ({top}) goes from {before} to {after}"


def honesty_note(pic: SamplingPicture, backend: str) -> str:
    """What the numbers are computed over, and in which order the server applies them."""
    listed = len(pic.tokens)
    other = pic.base.other
    if other > 0:
        note = (
            f"Computed over the {listed} tokens the backend listed plus the unlisted "
            f'{percent(other)} ("other"), which is reshaped as if each unlisted token were as '
            "likely as the least likely listed one."
        )
    else:
        note = f"Computed over the {listed} tokens the backend listed, which hold all the odds."
    if pic.top_p_before_temperature:
        note += f" {backend} applies top_p at temperature 1, before the temperature."
    else:
        note += f" {backend} applies top_p after the temperature."
    return note


def caption(outcome: SamplingOutcome) -> str:
    """The chart in words: top_p's kept set, the temperature's effect, the honesty note."""
    pic = outcome.picture
    # Starts with the parameter's own name, lower case as the API spells it.
    return f"{top_p_clause(pic)}; {temperature_clause(pic)}. {honesty_note(pic, outcome.backend)}"


def samples_sentence(outcome: SamplingOutcome) -> str | None:
    """`10 samples: " Paris" ×7, " the" ×3 (expected 7.6, 2.1, …)`, or None before sampling."""
    if outcome.samples is None:
        return None
    pic = outcome.picture
    counts, other = outcome.sample_counts()
    total = len(outcome.samples)
    drawn = [f"{shown_token(t)} ×{c}" for t, c in zip(pic.tokens, counts, strict=True) if c]
    if other:
        drawn.append(f"unlisted ×{other}")
    expected = [
        f"{shown_token(t)} {p * total:.1f}"
        for t, p in zip(pic.tokens, pic.sampling.listed, strict=True)
        if p * total >= 0.05
    ]
    if pic.sampling.other * total >= 0.05:
        # An upper bound: top_p keeps only the likelier part of the unlisted tokens.
        expected.append(f"unlisted ≤{pic.sampling.other * total:.1f}")
    return (
        f"Sample it: {total} samples at temperature {number(pic.temperature)}, top_p "
        f"{number(pic.top_p)}: {', '.join(drawn) or 'none'} (expected: {', '.join(expected)})."
    )


def table(outcome: SamplingOutcome) -> str:
    """The text fallback: one row per token, T=1 and T side by side, kept, samples."""
    pic = outcome.picture
    counts, other_count = outcome.sample_counts()
    heading = ["token", "T=1", f"T={number(pic.temperature)}", "top_p"]
    if outcome.samples is not None:
        heading.append("sampled")
    rows: list[list[str]] = [heading]
    for i, token in enumerate(pic.tokens):
        row = [
            shown_token(token),
            percent(pic.base.listed[i]),
            percent(pic.reshaped.listed[i]),
            "kept" if pic.nucleus.kept(i) else "—",
        ]
        if outcome.samples is not None:
            row.append(str(counts[i]))
        rows.append(row)
    if pic.base.other > 0 or other_count:
        row = [
            OTHER_LABEL,
            percent(pic.base.other),
            percent(pic.reshaped.other),
            "some" if pic.nucleus.includes_other else "—",
        ]
        if outcome.samples is not None:
            row.append(str(other_count))
        rows.append(row)
    widths = [max(ulen(r[c]) for r in rows) for c in range(len(heading))]
    lines = [
        "  ".join(
            cell.ljust(widths[c]) if c == 0 else cell.rjust(widths[c]) for c, cell in enumerate(r)
        ).rstrip()
        for r in rows
    ]
    return "```\n" + "\n".join(lines) + "\n```"


def prompt_tail(prompt: str, limit: int = PROMPT_TAIL) -> str:
    """The end of the prompt as a quote (the chart is about what comes right after it)."""
    tail = prompt[-limit:] if len(prompt) > limit else prompt
    shown = ("…" + tail) if len(prompt) > limit else tail
    return quote(shown.replace("```", "`\u200b``") or "(empty prompt)")


def footer(outcome: SamplingOutcome) -> str:
    parts = [p for p in (outcome.model, outcome.backend) if p]
    lines = ["-# " + " · ".join(parts)] if parts else []
    lines.extend(f"-# {note}" for note in outcome.notes)
    return "\n".join(lines)


def sampling_content(outcome: SamplingOutcome, limit: int = MESSAGE_LIMIT) -> str:
    """The message under the chart: prompt tail, caption, samples, the table, a footer."""
    parts = [caption(outcome)]
    sampled = samples_sentence(outcome)
    if sampled:
        parts.append(sampled)
    parts.append(table(outcome))
    tail = "\n".join(parts) + ("\n" + footer(outcome) if footer(outcome) else "")
    head = "Next token after:\n"
    budget = limit - ulen(tail) - ulen(head) - 1
    if budget < 40:
        return cut_units(tail, limit)
    return f"{head}{cut_units(prompt_tail(outcome.prompt), budget)}\n{tail}"
