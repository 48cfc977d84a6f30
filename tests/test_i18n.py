"""The translation layer: English message ids, zh-CN catalogs, late rendering."""

from __future__ import annotations

import pytest

from bot.errors import ParameterError
from bot.i18n import Msg, _, catalog, ngettext, normalize_locale, pick_locale, render


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
