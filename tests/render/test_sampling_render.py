"""The /sampling chart and its words, from hand-made distributions (no backend)."""

from __future__ import annotations

import io
import math
import subprocess
import sys

import pytest
from PIL import Image

from bot.i18n import _
from bot.render.sampling import caption, percent, sampling_content, table
from bot.render.sampling_chart import (
    LABEL_CHARS,
    SAMPLE_COLOUR,
    _has_glyph,
    chart_label,
    chart_locale,
    chart_png,
    chart_title,
)
from bot.render.text import columns, ulen
from bot.services.sampling import SamplingOutcome
from bot.services.sampling_math import NextToken, picture

LISTED = NextToken.from_top_logprobs(
    {" Paris": math.log(0.41), " the": math.log(0.2), "\n": math.log(0.1), " a": math.log(0.04)}
)


def outcome(
    temperature: float = 0.5,
    top_p: float = 0.9,
    *,
    samples: tuple[str, ...] | None = None,
    prompt: str = "The capital of France is",
    listed: NextToken = LISTED,
    before: bool = False,
) -> SamplingOutcome:
    return SamplingOutcome(
        chart_id=1,
        prompt=prompt,
        model="m",
        backend="vllm",
        picture=picture(listed, temperature, top_p, top_p_before_temperature=before),
        samples=samples,
    )


@pytest.mark.parametrize(
    ("p", "shown"),
    [(0, "0%"), (0.0001, "<0.1%"), (0.042, "4.2%"), (0.41, "41%"), (0.995, "99.5%"), (1, "100%")],
)
def test_percent(p: float, shown: str) -> None:
    """Whole percents in the middle, one decimal near 0 and 100."""
    assert percent(p) == shown


def test_caption_names_the_kept_tokens_and_the_temperature_change() -> None:
    """The caption says which tokens top_p keeps and how the likeliest one's share moves."""
    o = outcome(0.5, 0.8)  # vLLM's order: at 0.5 " Paris" has 73%, short of 0.8
    pic = o.picture
    text = caption(o)
    assert text.startswith('top_p 0.8 keeps 2 tokens: " Paris", " the"; ')
    # By hand: 0.41² / (0.41² + 0.2² + 0.1² + 0.04² + 0.25·0.04) = 0.1681 / 0.2297.
    assert 'at temperature 0.5 the likeliest token (" Paris") goes from 41% to 73%.' in text
    assert pic.reshaped.listed[0] == pytest.approx(0.1681 / 0.2297)
    assert 'plus the unlisted 25% ("other")' in text
    assert "vllm applies top_p after the temperature." in text


@pytest.mark.parametrize(
    ("temperature", "top_p", "expected"),
    [
        (1, 1, "top_p 1 keeps every token; at temperature 1 the odds are the model's own"),
        (0, 0.5, 'at temperature 0 the likeliest token (" Paris") is always chosen: 41% → 100%'),
        (1, 0.8, "top_p 0.8 keeps all 4 listed tokens and some unlisted ones"),
    ],
)
def test_caption_edge_cases(temperature: float, top_p: float, expected: str) -> None:
    """top_p 1, temperature 0 and a top_p reaching into the unlisted tokens read correctly."""
    assert expected in caption(outcome(temperature, top_p))


def test_caption_without_unlisted_mass_and_llama_order() -> None:
    """When the listed tokens hold everything, no "other" is claimed; llama order is named."""
    full = NextToken.from_top_logprobs({"a": math.log(0.75), "b": math.log(0.25)})
    text = caption(outcome(listed=full, before=True))
    assert "which hold all the odds" in text
    assert "vllm applies top_p at temperature 1, before the temperature." in text


def test_table_shows_tokens_visibly_with_both_temperatures_and_samples() -> None:
    """Rows quote tokens ("\\n" visible), give T=1 and T, kept, and sample counts."""
    o = outcome(0.5, 0.6, samples=(" Paris",) * 7 + ("\n", " zebra", " the"))
    lines = table(o).split("\n")
    assert lines[1].split() == ["token", "T=1", "T=0.5", "top_p", "sampled"]
    assert lines[2].startswith('" Paris" ') and lines[2].split()[-2:] == ["kept", "7"]
    assert lines[3].startswith('" the" ') and lines[3].split()[-2:] == ["—", "1"]
    assert lines[4].startswith('"\\n" ') and lines[4].split()[-2:] == ["—", "1"]
    assert lines[6].startswith("other (unlisted)") and lines[6].split()[-1] == "1"
    content = sampling_content(o)
    assert '10 samples at temperature 0.5, top_p 0.6: " Paris" ×7, " the" ×1, "\\n" ×1' in content


def test_content_fits_one_message_with_a_huge_prompt() -> None:
    """A long prompt is cut to its end; the message stays within 2,000 characters."""
    content = sampling_content(outcome(prompt="word " * 3000 + "END"))
    assert ulen(content) <= 2000
    assert "END" in content and "…" in content


def test_chart_labels_make_whitespace_and_unknown_glyphs_visible() -> None:
    """Spaces, newlines and empty tokens are visible; glyphs no font has become [U+XXXX]."""
    assert chart_label(" the") == "␣the"
    assert chart_label("\n\n") == "↵↵"
    assert chart_label("") == "(empty)"
    assert chart_label("\x07") == "\\x07"
    assert chart_label("\U0001f9ea").startswith(("[U+1F9EA]", "\U0001f9ea"))
    assert len(chart_label("x" * 50)) == LABEL_CHARS
    assert chart_title("line one\nline two") == "Next token after “line one↵line two”"


def test_chart_png_marks_samples_in_their_own_colour() -> None:
    """After Sample it the chart has a third series, drawn in the sample colour."""
    plain = Image.open(io.BytesIO(chart_png(outcome(samples=None)))).convert("RGB")
    sampled = Image.open(io.BytesIO(chart_png(outcome(samples=(" Paris",) * 10)))).convert("RGB")
    orange = tuple(int(SAMPLE_COLOUR[i : i + 2], 16) for i in (1, 3, 5))

    def has_orange(image: Image.Image) -> bool:
        return any(
            image.getpixel((x, y)) == orange
            for x in range(0, image.width, 3)
            for y in range(0, image.height, 3)
        )

    assert has_orange(sampled)
    assert not has_orange(plain)


def test_dollar_signs_are_drawn_as_text() -> None:
    """A token like "$x$" does not switch matplotlib to maths mode (which would fail or differ)."""
    # "$\\frac{$" is a mathtext error: drawing it as maths would raise.
    tokens = NextToken.from_top_logprobs({"$x$": -0.5, "$": -1.5, "$\\frac{$": -2.0})
    assert Image.open(io.BytesIO(chart_png(outcome(listed=tokens)))).format == "PNG"


def test_loading_the_cog_does_not_import_matplotlib() -> None:
    """matplotlib is imported on the first chart, not when the bot starts."""
    code = "import sys, cogs.sampling, bot.cli.sampling; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_caption_samples_and_table_in_chinese() -> None:
    """The same chart in Chinese: clauses, samples and headings translated, tokens, parameter
    names and percentages kept; the table stays aligned with double-width characters."""
    o = outcome(0.5, 0.6, samples=(" Paris",) * 7 + ("\n", " zebra", " the"))
    content = sampling_content(o, locale="zh-CN")
    assert content.startswith("以下文本之后的下一个 token：\n> The capital of France is\n")
    assert 'top_p 0.6 保留 1 个 token：" Paris"；' in content
    assert 'temperature 为 0.5 时，最可能的 token（" Paris"）从 41% 变为 73%。' in content
    assert "vllm 在应用 temperature 之后再应用 top_p。" in content
    assert '采样：在 temperature 0.5、top_p 0.6 下采样 10 次：" Paris" ×7、' in content
    lines = table(o, "zh-CN").split("\n")[1:-1]
    assert lines[0].split() == ["token", "T=1", "T=0.5", "top_p", "采样"]
    assert lines[1].split()[-2:] == ["保留", "7"] and lines[5].startswith("其他（未列出）")
    # Every row is as wide as the heading on screen (CJK characters take two columns).
    assert len({columns(line) for line in lines}) == 1


def test_chart_words_are_drawn_in_english_without_a_font_for_them() -> None:
    """The chart's Chinese words are used only when an installed font has their glyphs."""
    words = [_("kept"), _("probability of being the next token")]
    drawable = all(_has_glyph(char) for char in "保留成为下一个的概率")
    assert chart_locale("zh-CN", words) == ("zh-CN" if drawable else "en-US")
    assert chart_locale(None, words) is None  # English always draws
    png = chart_png(outcome(), "zh-CN")
    assert Image.open(io.BytesIO(png)).format == "PNG"
