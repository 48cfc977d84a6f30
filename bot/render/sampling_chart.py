"""The /sampling chart: a PNG bar chart drawn with matplotlib's Agg renderer.

Each listed token gets two bars, its probability at temperature 1 and at the
chosen temperature; the tokens top_p keeps sit on a shaded band; the mass the
backend did not list is one "other" bar; after Sample it, a third bar shows
how often each token came out.

matplotlib is imported on the first chart, not at start-up (it takes about a
second), and only its object API is used (no pyplot state), so charts can be
drawn in a worker thread: call `chart_png` through `asyncio.to_thread`.
"""

from __future__ import annotations

import functools
import io
import logging
import threading
from typing import TYPE_CHECKING, Any

from bot.i18n import DEFAULT_LOCALE, Msg, _, render
from bot.render.sampling import OTHER_LABEL, number, percent

if TYPE_CHECKING:
    from bot.services.sampling import SamplingOutcome

log = logging.getLogger(__name__)

DPI = 100
WIDTH_IN = 9.0
ROW_IN = 0.55  # height per row of bars
FRAME_IN = 2.2  # title, axis, legend and note
LEGEND_IN = 0.55  # the legend and the note under the axes
# Fixed margins (inches): measuring the text for tight_layout would cost a
# second drawing pass. Labels are at most LABEL_CHARS characters.
LEFT_IN, RIGHT_IN, TOP_IN, AXIS_IN = 2.0, 0.25, 0.45, 0.6
LABEL_CHARS = 14  # W×13 and "…" still fit LEFT_IN
# Fonts tried after DejaVu Sans (bundled with matplotlib) for tokens it has no
# glyphs for; whichever of these is installed is used. Characters no font
# has are shown as [U+XXXX] rather than as empty boxes.
FALLBACK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "Noto Color Emoji",
)
BASE_COLOUR = "#9aa5b1"
TEMPERATURE_COLOUR = "#2563eb"
DROPPED_COLOUR = "#bfd0f5"
SAMPLE_COLOUR = "#f59e0b"
KEPT_BAND = "#fef3c7"
_DRAWING = threading.Lock()
# Visible stand-ins for whitespace, so " the" and "the" look different.
VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}


@functools.cache
def _fonts() -> tuple[list[str], list[Any]]:
    """The font families to use and their glyph tables (loaded once per process)."""
    from matplotlib import font_manager, ft2font

    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    families = ["DejaVu Sans", *(f for f in FALLBACK_FAMILIES if f in installed)]
    faces = []
    for family in families:
        path = font_manager.findfont(font_manager.FontProperties(family=family))
        faces.append(ft2font.FT2Font(path))
    return families, faces


def _has_glyph(char: str) -> bool:
    return any(face.get_char_index(ord(char)) for face in _fonts()[1])


def _drawable(text: str, visible: dict[str, str]) -> str:
    """`text` with `visible` stand-ins, control characters as \\xNN, unknown glyphs as [U+XXXX]."""
    out: list[str] = []
    for char in text:
        if char in visible:
            out.append(visible[char])
        elif ord(char) < 32 or ord(char) == 127:
            out.append(f"\\x{ord(char):02x}")
        elif _has_glyph(char):
            out.append(char)
        else:
            out.append(f"[U+{ord(char):04X}]")
    return "".join(out)


def chart_label(token: str, limit: int = LABEL_CHARS, locale: str | None = None) -> str:
    """A token as a tick label: whitespace made visible, unknown glyphs as [U+XXXX]."""
    if token == "":
        return render(_("(empty)"), locale)
    label = _drawable(token, VISIBLE)
    return label if len(label) <= limit else label[: limit - 1] + "…"


def chart_title(prompt: str, limit: int = 60, locale: str | None = None) -> str:
    """`Next token after “…the end of the prompt”`, on one line."""
    tail = prompt[-limit:].lstrip() if len(prompt) > limit else prompt
    shown = _drawable(tail, {"\n": "↵", "\t": " "})
    quoted = ("…" if len(prompt) > limit else "") + shown
    return render(_("Next token after “{prompt}”", prompt=quoted), locale)


def chart_locale(locale: str | None, texts: list[Msg]) -> str | None:
    """`locale` when the installed fonts can draw its words, else English.

    The chart's own words are drawn, not shown by Discord: without a CJK font
    (Noto Sans CJK, WenQuanYi …) Chinese would come out as empty boxes. The
    caption and the message carry the same facts in the member's language.
    """
    for text in texts:
        if not all(_has_glyph(char) for char in render(text, locale) if not char.isspace()):
            log.info("no font for the %s chart labels; drawing them in English", locale)
            return DEFAULT_LOCALE
    return locale


def chart_png(outcome: SamplingOutcome, locale: str | None = None) -> bytes:
    """The chart for `outcome` as PNG bytes (blocking: run it in a thread).

    Its words are in `locale` when a font can draw them (see `chart_locale`).
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    pic = outcome.picture
    total = len(outcome.samples or ())
    words = {
        "base": _("temperature 1 (the model's odds)"),
        "temperature": _("temperature {t}", t=number(pic.temperature)),
        "kept": _("kept by top_p {top_p}", top_p=number(pic.top_p)),
        "sampled": _("sampled ({count} draws)", count=total),
        "axis": _("probability of being the next token"),
        "other": OTHER_LABEL,
        "empty": _("(empty)"),
        "note": _(
            '"other": mass the backend did not list, reshaped as if each unlisted token were '
            "as likely as the least likely listed one."
        ),
        "title": _("Next token after “{prompt}”", prompt=""),
    }
    locale = chart_locale(locale, list(words.values()))

    def say(key: str) -> str:
        return render(words[key], locale)

    labels = [chart_label(t, locale=locale) for t in pic.tokens]
    base = list(pic.base.listed)
    reshaped = list(pic.reshaped.listed)
    kept = [pic.nucleus.kept(i) for i in range(len(labels))]
    counts, other_count = outcome.sample_counts()
    if pic.base.other > 0 or (outcome.samples is not None and other_count):
        labels.append(say("other"))
        base.append(pic.base.other)
        reshaped.append(pic.reshaped.other)
        kept.append(pic.nucleus.includes_other)
        if outcome.samples is not None:
            counts.append(other_count)

    rows = len(labels)
    families, _faces = _fonts()
    # rc_context changes matplotlib's global settings: one chart at a time
    # (drawing holds the GIL anyway). Tokens are text, never LaTeX: "$x$"
    # must show as typed.
    with (
        _DRAWING,
        matplotlib.rc_context({"text.parse_math": False, "font.family": families, "font.size": 10}),
    ):
        figure = Figure(figsize=(WIDTH_IN, FRAME_IN + ROW_IN * rows), dpi=DPI)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        sampled = outcome.samples is not None
        series = 3 if sampled else 2
        height = 0.8 / series
        positions = list(range(rows))
        for y, is_kept in zip(positions, kept, strict=True):
            if is_kept:
                axes.axhspan(y - 0.5, y + 0.5, color=KEPT_BAND, zorder=0)
        offset = (series - 1) / 2 * height
        base_bars = axes.barh(
            [y - offset for y in positions], base, height, color=BASE_COLOUR, zorder=2
        )
        t_bars = axes.barh(
            [y - offset + height for y in positions],
            reshaped,
            height,
            color=[TEMPERATURE_COLOUR if k else DROPPED_COLOUR for k in kept],
            zorder=2,
        )
        axes.bar_label(base_bars, [percent(p, locale) for p in base], padding=3, fontsize=8)
        axes.bar_label(t_bars, [percent(p, locale) for p in reshaped], padding=3, fontsize=8)
        legend = [
            Patch(color=BASE_COLOUR, label=say("base")),
            Patch(color=TEMPERATURE_COLOUR, label=say("temperature")),
            Patch(color=KEPT_BAND, label=say("kept")),
        ]
        if sampled:
            shares = [c / total if total else 0.0 for c in counts]
            sample_bars = axes.barh(
                [y - offset + 2 * height for y in positions],
                shares,
                height,
                color=SAMPLE_COLOUR,
                zorder=2,
            )
            axes.bar_label(
                sample_bars, [f"{c}/{total}" if c else "" for c in counts], padding=3, fontsize=8
            )
            legend.append(Patch(color=SAMPLE_COLOUR, label=say("sampled")))
        axes.set_yticks(positions, labels, fontsize=9)
        axes.invert_yaxis()  # likeliest on top
        axes.set_xlim(0, 1.12)
        ticks = [0, 0.25, 0.5, 0.75, 1.0]
        axes.set_xticks(ticks, [percent(p, locale) for p in ticks])
        axes.set_xlabel(say("axis"))
        axes.grid(axis="x", color="#e5e7eb", zorder=1)
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        # Below the axes, where no bar can hide behind it.
        figure.legend(
            handles=legend,
            loc="lower center",
            ncol=len(legend),
            fontsize=8,
            bbox_to_anchor=(0.5, 0.035),
            frameon=False,
        )
        axes.set_title(chart_title(outcome.prompt, locale=locale), fontsize=11, loc="left")
        figure.text(0.01, 0.01, say("note"), fontsize=7, color="#6b7280")
        height_in = figure.get_figheight()
        figure.subplots_adjust(
            left=LEFT_IN / WIDTH_IN,
            right=1 - RIGHT_IN / WIDTH_IN,
            top=1 - TOP_IN / height_in,
            bottom=(LEGEND_IN + AXIS_IN) / height_in,
        )
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
