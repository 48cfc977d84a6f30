"""Values that read differently per locale: numbers, percentages and lists.

Each is a `Localized` value to put in a sentence (`_("{n} tokens", n=number(5))`)
or to render on its own; nothing is formatted until the locale is known. The
formats come from Babel's CLDR data, so a new language gets its own digits
grouping, percent sign and list words without code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from typing import Literal

from bot.i18n.core import Localized, Msg, _, babel_locale, render

ListStyle = Literal["list", "and", "or", "clauses", "sentences"]

# The separator of a plain list of names (best_of, echo): the catalog gives each
# language its own (Chinese uses the enumeration comma 、).
LIST_SEPARATOR = _(", ")
# Two clauses of one sentence (a comma in English, ， in Chinese) and two sentences
# one after the other (a space in English, nothing in Chinese).
PAIRS = {"clauses": _("{first}, {second}"), "sentences": _("{first} {second}")}


def _pattern(decimals: int | None, suffix: str = "") -> str | None:
    if decimals is None:
        return None
    return "#,##0" + ("." + "0" * decimals if decimals > 0 else "") + suffix


@lru_cache(maxsize=4096)
def _decimal(value: float | Decimal, decimals: int | None, locale: str | None) -> str:
    """A number formatted for a locale, remembered: Babel takes about 15 µs for one,
    and the same few (token counts, seconds) come back in every reply's footer."""
    from babel.numbers import format_decimal

    return str(format_decimal(value, format=_pattern(decimals), locale=babel_locale(locale)))


@dataclass(frozen=True)
class Number(Localized):
    """A number with the locale's decimal mark and grouping."""

    value: float
    decimals: int | None = None  # None: as needed, up to three

    def render(self, locale: str | None = None) -> str:
        value: float | Decimal = self.value
        if self.decimals is not None:
            # Rounded first as Babel rounds (half to even, from the float's str), so
            # a footer's seconds (0.4132…, 0.4129…) share one remembered "0.4".
            step = Decimal(1).scaleb(-self.decimals)
            value = Decimal(str(value)).quantize(step, rounding=ROUND_HALF_EVEN)
        return _decimal(value, self.decimals, locale)


@dataclass(frozen=True)
class Percent(Localized):
    """A fraction (0.42) shown as a percentage (42%) the locale's way."""

    value: float
    decimals: int = 0

    def render(self, locale: str | None = None) -> str:
        from babel.numbers import format_percent

        pattern = _pattern(self.decimals, "%")
        return str(format_percent(self.value, format=pattern, locale=babel_locale(locale)))


@dataclass(frozen=True)
class Joined(Localized):
    """Items (plain text or sentences) joined into one list."""

    items: tuple[str | Localized, ...]
    style: ListStyle = "list"

    def render(self, locale: str | None = None) -> str:
        parts = [render(item, locale) for item in self.items]
        if self.style in PAIRS:
            text = parts[0] if parts else ""
            for part in parts[1:]:
                pair = PAIRS[self.style].msgid
                text = Msg(pair, {"first": text, "second": part}).render(locale)
            return text
        if self.style == "list" or len(parts) < 2:
            return LIST_SEPARATOR.render(locale).join(parts)
        from babel.lists import format_list

        cldr: Literal["standard", "or"] = "standard" if self.style == "and" else "or"
        return str(format_list(parts, style=cldr, locale=babel_locale(locale)))


def number(value: float, decimals: int | None = None) -> Number:
    """`value` for a sentence: 65,536 and 0.4 in English; `decimals` fixes the digits."""
    return Number(value, decimals)


def percent(value: float, decimals: int = 0) -> Percent:
    """A fraction as a percentage: percent(0.42) is 42%, percent(0.0042, 1) is 0.4%."""
    return Percent(value, decimals)


def join(items: Iterable[str | Localized], style: ListStyle = "list") -> Joined:
    """A lazy list: "list" separates names (a, b, c), "and"/"or" say the last link in words,
    "clauses" joins parts of one sentence, "sentences" puts whole sentences one after another."""
    return Joined(tuple(items), style)


__all__ = ["LIST_SEPARATOR", "PAIRS", "Joined", "Number", "Percent", "join", "number", "percent"]
