"""Translations: every sentence Couplet shows a person is a `Msg`, rendered late.

    from bot.i18n import _, ngettext, render

    error = _("temperature {value} is out of range: use {allowed}.", value=3.5, allowed=...)
    render(error, "zh-CN")   # the Chinese sentence; str(error) is the English one

The message id is the English text (gettext's convention), so the code reads
as English and `str(msg)` needs no catalog. Catalogs are gettext `.po` files
under `bot/i18n/locales/<locale>/`, one file per feature (all of a locale's
files are merged), so features add their sentences without touching each
other's. Adding a language is adding a folder of catalogs.

Nothing is translated until `render(msg, locale)`: services and errors carry
`Msg` objects through the layers, and the Discord adapter renders them in the
member's locale. Placeholders are `{name}`; only names given as values are
replaced, so other braces (a JSON example) stay as they are. A value that is
itself `Localized` (a `Msg`, or `number`, `percent`, `join` from
`bot.i18n.formats`) is rendered in the same locale, so numbers and lists read
the locale's way (Babel's CLDR data). `to_data`/`from_data` store a sentence as
JSON and bring it back (notes saved with a generation render later, in whichever
language the reader has).

Every message id is written literally in `_()` or `ngettext()` (Babel's
extractor finds them; tests/test_i18n_catalogs.py checks every one has a
translation and every translation is used).

No other part of Couplet is imported here: every layer may use it.
"""

from bot.i18n.core import (
    DEFAULT_LOCALE,
    LOCALES_DIR,
    SUPPORTED_LOCALES,
    Catalog,
    Localized,
    Msg,
    _,
    babel_locale,
    catalog,
    ngettext,
    normalize_locale,
    pick_locale,
    render,
)
from bot.i18n.data import from_data, to_data
from bot.i18n.formats import join, number, percent

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES_DIR",
    "SUPPORTED_LOCALES",
    "Catalog",
    "Localized",
    "Msg",
    "_",
    "babel_locale",
    "catalog",
    "from_data",
    "join",
    "ngettext",
    "normalize_locale",
    "number",
    "percent",
    "pick_locale",
    "render",
    "to_data",
]
