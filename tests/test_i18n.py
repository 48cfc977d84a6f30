"""The translation layer: English message ids, zh-CN catalogs, late rendering."""

from __future__ import annotations

import pytest

from bot.errors import ParameterError
from bot.i18n import (
    Msg,
    _,
    babel_locale,
    catalog,
    from_data,
    join,
    ngettext,
    normalize_locale,
    number,
    percent,
    pick_locale,
    render,
    to_data,
)


def test_english_is_the_message_id_with_values_filled() -> None:
    """No catalog is needed for English: the id is the text, placeholders filled."""
    msg = _("{param} {value} is not allowed: use {allowed}.", param="n", value=9, allowed="1")
    assert str(msg) == "n 9 is not allowed: use 1."
    assert render(msg, "en-GB") == "n 9 is not allowed: use 1."


def test_chinese_comes_from_the_catalog() -> None:
    """A zh-CN member gets the catalog's sentence with the same values."""
    msg = _("{param} {value} is not allowed: use {allowed}.", param="n", value=9, allowed="1")
    assert render(msg, "zh-CN") == "n 的值 9 不允许：请使用1。"


def test_untranslated_sentence_falls_back_to_english() -> None:
    """A sentence missing from a catalog, or an unsupported locale, shows English."""
    msg = _("Nothing {x} here.", x=1)
    assert render(msg, "zh-CN") == "Nothing 1 here."
    assert (
        render(
            _("{param} {value} is not allowed: use {allowed}.", param="a", value=1, allowed="b"),
            "fr",
        )
        == "a 1 is not allowed: use b."
    )


def test_braces_that_are_not_placeholders_stay() -> None:
    """A JSON example in a sentence is not taken for a placeholder."""
    msg = _('use token ids such as {"50256": -100} for {param}.', param="logit_bias")
    assert str(msg) == 'use token ids such as {"50256": -100} for logit_bias.'


def test_a_value_that_is_a_message_is_rendered_in_the_same_locale() -> None:
    """Nested sentences follow the outer one's locale."""
    inner = _("{param} {value} is not allowed: use {allowed}.", param="n", value=9, allowed="1")
    outer = Msg("{reason}", {"reason": inner})
    assert render(outer, "zh-CN") == "n 的值 9 不允许：请使用1。"


def test_plural_forms() -> None:
    """English chooses by n; the catalog's plural rule chooses for its language."""
    one = ngettext("{n} second", "{n} seconds", 1)
    many = ngettext("{n} second", "{n} seconds", 5)
    assert (str(one), str(many)) == ("1 second", "5 seconds")


def test_plain_text_passes_through() -> None:
    """Generated text and names are never looked up."""
    assert render("Once upon a time", "zh-CN") == "Once upon a time"
    assert render(None, "zh-CN") == ""


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("zh-CN", "zh-CN"),
        ("zh_CN", "zh-CN"),
        ("zh", "zh-CN"),
        ("en-GB", "en-US"),
        ("zh-TW", None),
        ("fr", None),
        ("", None),
        (None, None),
    ],
)
def test_locale_codes(given: str | None, expected: str | None) -> None:
    """Discord's codes map to the catalogs Couplet has; Traditional Chinese is not Simplified."""
    assert normalize_locale(given) == expected


def test_pick_locale_takes_the_first_supported() -> None:
    """Member locale, then server locale, then English."""
    assert pick_locale("fr", "zh-CN") == "zh-CN"
    assert pick_locale(None, "de") == "en-US"


def test_errors_render_per_locale() -> None:
    """A ParameterError's default sentence is translated; .message stays English."""
    error = ParameterError("n", 9, "1")
    assert error.message == "n 9 is not allowed: use 1."
    assert error.text("zh-CN") == "n 的值 9 不允许：请使用1。"


def test_catalog_is_loaded_from_po_files() -> None:
    """zh-CN has a catalog read from the package's .po files; English has none."""
    zh = catalog("zh-CN")
    assert zh is not None and "{param} {value} is not allowed: use {allowed}." in zh.messages
    assert catalog("en-US") is None


# -- formats and storage ------------------------------------------------------------


def test_lists_join_the_locales_way() -> None:
    """A list of names, an "or" list and clauses read differently in English and Chinese."""
    names = join(["best_of", "echo", "n"])
    either = join(["auto", "en-US", "zh-CN"], "or")
    clauses = join(["0 to 2", "API default 1"], "clauses")
    assert (str(names), render(names, "zh-CN")) == ("best_of, echo, n", "best_of、echo、n")
    assert (str(either), render(either, "zh-CN")) == ("auto, en-US, or zh-CN", "auto、en-US或zh-CN")
    assert (str(clauses), render(clauses, "zh-CN")) == (
        "0 to 2, API default 1",
        "0 to 2，API default 1",
    )


def test_two_sentences_are_spaced_the_locales_way() -> None:
    """Whole sentences follow each other with a space in English, without one in Chinese."""
    both = join([_("TGI ignores logit_bias."), _("TGI refuses suffix with an error.")], "sentences")
    assert str(both) == "TGI ignores logit_bias. TGI refuses suffix with an error."
    assert render(both, "zh-CN") == "TGI 会忽略 logit_bias。TGI 收到 suffix 会报错拒绝。"


def test_numbers_and_percentages_use_the_locales_format() -> None:
    """Numbers group thousands and fix decimals, percentages get the sign (Babel's CLDR data)."""
    assert str(number(65536)) == "65,536"
    assert str(number(0.4, 1)) == "0.4"
    assert str(percent(0.4251)) == "43%"
    assert render(percent(0.0042, 1), "zh-CN") == "0.4%"
    assert babel_locale("zh-CN").territory == "CN" and babel_locale("fr").language == "en"


def test_a_remembered_number_reads_as_babel_formats_it() -> None:
    """Numbers are rounded before they are remembered, the way Babel rounds (half to
    even, from the float's text): halves, and floats just under a half, read the same as
    Babel's own output; values that round alike share one remembered text."""
    from babel.numbers import format_decimal

    from bot.i18n.formats import _decimal

    for value, decimals in [(2.675, 2), (0.125, 2), (1.005, 2), (2.5, 0), (3.5, 0), (0.45, 1)]:
        for locale in ("en-US", "zh-CN"):
            babel = format_decimal(
                value,
                format="#,##0" + ("." + "0" * decimals if decimals else ""),
                locale=babel_locale(locale),
            )
            assert render(number(value, decimals), locale) == babel, (value, decimals)
    _decimal.cache_clear()
    assert [str(number(v, 1)) for v in (0.4132, 0.4129, 0.38)] == ["0.4", "0.4", "0.4"]
    assert _decimal.cache_info().currsize == 1


def test_values_inside_a_sentence_follow_its_locale() -> None:
    """A number and a nested sentence inside a sentence render in the outer locale."""
    inner = _("{seconds} s", seconds=number(3.26, 1))
    outer = _("mean logprob {value}", value=inner)
    assert (str(outer), render(outer, "zh-CN")) == ("mean logprob 3.3 s", "平均 logprob 3.3 秒")


def test_sentences_survive_storage_as_json() -> None:
    """to_data/from_data keep the id, values, plurals, formats and lists; text stays text."""
    import json

    msg = ngettext(
        "{n} token in all",
        "{n} tokens in all",
        3,
    )
    nested = _(
        "Emulated by Couplet on this backend: {names}.",
        names=join(["n", number(2)]),
    )
    for original in (msg, nested, "plain text written by an older version"):
        loaded = from_data(json.loads(json.dumps(to_data(original))))
        assert loaded == original
    assert render(from_data(to_data(msg)), "zh-CN") == "共 3 个 token"
