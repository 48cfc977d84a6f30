"""The translation core: `Msg`, `_`, `ngettext`, `render`, locales and the catalogs.

Import from `bot.i18n` (the package re-exports all of it).
"""

from __future__ import annotations

import gettext
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

DEFAULT_LOCALE = "en-US"
# Discord's locale codes Couplet has catalogs for (English needs none).
SUPPORTED_LOCALES = ("en-US", "zh-CN")
# Discord locale code -> catalog folder.
_FOLDERS = {"zh-CN": "zh_CN"}
LOCALES_DIR = Path(__file__).parent / "locales"

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Localized(ABC):
    """Something shown to a person that reads differently in each locale."""

    @abstractmethod
    def render(self, locale: str | None = None) -> str:
        """The text in `locale` (English when None)."""

    def __str__(self) -> str:
        return self.render(None)


@dataclass(frozen=True)
class Msg(Localized):
    """A sentence to show, as its English message id and the values to put in it."""

    msgid: str
    values: Mapping[str, Any] = field(default_factory=dict)
    plural: str | None = None
    n: int | None = None

    def render(self, locale: str | None = None) -> str:
        """The sentence in `locale` (English when it has no translation)."""
        text = _translate(self, normalize_locale(locale) or DEFAULT_LOCALE)
        return _fill(text, self.values, locale)

    def __str__(self) -> str:
        return self.render(None)


def _(msgid: str, /, **values: Any) -> Msg:
    """A translatable sentence (`msgid` is its English text, with `{name}` placeholders)."""
    return Msg(msgid, values)


def ngettext(singular: str, plural: str, n: int, /, **values: Any) -> Msg:
    """A sentence whose wording depends on the number `n` (also given as `{n}`)."""
    return Msg(singular, {"n": n, **values}, plural=plural, n=n)


def render(text: str | Localized | None, locale: str | None = None) -> str:
    """`text` in `locale`; plain strings (generated text, names) are shown as they are."""
    if text is None:
        return ""
    if isinstance(text, Localized):
        return text.render(locale)
    return text


def normalize_locale(locale: object) -> str | None:
    """Discord's locale code for a supported language, or None.

    Accepts `discord.Locale` values and codes such as "zh-CN", "zh_CN", "en-GB".
    """
    if locale is None:
        return None
    code = str(getattr(locale, "value", locale)).replace("_", "-").strip()
    if not code:
        return None
    if code in SUPPORTED_LOCALES:
        return code
    language = code.split("-")[0].lower()
    if language == "en":
        return "en-US"
    if language == "zh" and code.lower() in ("zh", "zh-cn", "zh-hans", "zh-sg"):
        return "zh-CN"
    return None


def pick_locale(*candidates: object) -> str:
    """The first supported locale among `candidates` (member, server, ...), else English."""
    for candidate in candidates:
        locale = normalize_locale(candidate)
        if locale is not None:
            return locale
    return DEFAULT_LOCALE


@cache
def babel_locale(locale: str | None) -> Any:
    """Babel's `Locale` for a Discord locale code (English when unsupported or None)."""
    from babel import Locale

    code = normalize_locale(locale) or DEFAULT_LOCALE
    return Locale.parse(code.replace("-", "_"))


# -- catalogs ---------------------------------------------------------------------


@dataclass(frozen=True)
class Catalog:
    """Every translation of one locale, merged from its `.po` files."""

    messages: Mapping[str, str | tuple[str, ...]]
    plural_index: Callable[[int], int]


@cache
def catalog(locale: str) -> Catalog | None:
    """The merged catalog of `locale`, or None when it needs none (English)."""
    folder = _FOLDERS.get(locale)
    if folder is None:
        return None
    from babel.messages.pofile import read_po  # only when a translation is needed

    messages: dict[str, str | tuple[str, ...]] = {}
    plural_expr = "0"
    for path in sorted((LOCALES_DIR / folder).glob("*.po")):
        with path.open("rb") as handle:
            po = read_po(handle, locale=folder)
        plural_expr = po.plural_expr
        for message in po:
            if not message.id or message.fuzzy:
                continue
            key = str(message.id[0] if isinstance(message.id, list | tuple) else message.id)
            string = message.string
            if isinstance(string, list | tuple):
                if all(string):
                    messages[key] = tuple(str(s) for s in string)
            elif string:
                messages[key] = str(string)
    return Catalog(messages, gettext.c2py(plural_expr))


def _translate(msg: Msg, locale: str) -> str:
    english = msg.msgid if msg.plural is None or msg.n == 1 else msg.plural
    found = catalog(locale)
    if found is None:
        return english
    translated = found.messages.get(msg.msgid)
    if translated is None:
        return english
    if isinstance(translated, tuple):
        index = found.plural_index(msg.n if msg.n is not None else 1)
        return translated[min(index, len(translated) - 1)]
    return translated


def _fill(text: str, values: Mapping[str, Any], locale: str | None) -> str:
    if not values:
        return text

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        item = values[name]
        return item.render(locale) if isinstance(item, Localized) else str(item)

    return _PLACEHOLDER.sub(value, text)
