"""The catalogs match the code: every message id the code uses is translated, every
translation is used, and each keeps the English id's placeholders.

Message ids are found the way translators find them: Babel's extractor over
bot/ and cogs/ with the keywords `_` and `ngettext`. The catalogs are read as
files (not through the merged runtime catalog), so a sentence translated two
ways in two features' catalogs, or marked fuzzy, is caught too.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n import DEFAULT_LOCALE, SUPPORTED_LOCALES
from bot.i18n.core import LOCALES_DIR

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("bot", "cogs")
KEYWORDS = {"_": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
TRANSLATED = [locale for locale in SUPPORTED_LOCALES if locale != DEFAULT_LOCALE]


@dataclass(frozen=True)
class Entry:
    """One message of one catalog file."""

    file: str
    message: Message

    @property
    def msgid(self) -> str:
        mid = self.message.id
        return str(mid[0] if isinstance(mid, list | tuple) else mid)

    @property
    def forms(self) -> list[str]:
        string = self.message.string
        return [str(s) for s in string] if isinstance(string, list | tuple) else [str(string)]


@cache
def extracted() -> tuple[dict[str, list[str]], frozenset[str]]:
    """Message id (the singular for plurals) → where the code uses it; and the plural ids."""
    found: dict[str, list[str]] = {}
    plurals: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Babel notes f-strings passed as values
        for source in SOURCES:
            for name, line, message, _comments, _context in extract_from_dir(
                ROOT / source, method_map=[("**.py", "python")], keywords=KEYWORDS
            ):
                msgid = message[0] if isinstance(message, tuple) else message
                if msgid:
                    found.setdefault(msgid, []).append(f"{source}/{name}:{line}")
                    if isinstance(message, tuple):
                        plurals.add(msgid)
    return found, frozenset(plurals)


def used_ids() -> dict[str, list[str]]:
    return extracted()[0]


def catalog_entries(locale: str) -> list[Entry]:
    folder = LOCALES_DIR / locale.replace("-", "_")
    entries = []
    for path in sorted(folder.glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle, locale=folder.name):
                if message.id:
                    entries.append(Entry(path.name, message))
    return entries


def test_the_extractor_finds_the_code_sentences() -> None:
    """The extraction is real: it finds sentences from several layers (not an empty set)."""
    ids = used_ids()
    assert "{param} {value} is not allowed: use {allowed}." in ids  # bot/errors.py
    assert "Regenerate" in ids  # bot/render/buttons.py
    assert "Continue a prompt with the language model." in ids  # cogs/completions
    assert len(ids) > 300


def _calls(tree: ast.AST) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in KEYWORDS:
                yield node


def test_every_message_id_is_written_literally() -> None:
    """`_()` and `ngettext()` take literal text, so the extractor sees every sentence."""
    bad = []
    for source in SOURCES:
        for path in sorted((ROOT / source).rglob("*.py")):
            for call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
                count = 2 if call.func.id == "ngettext" else 1  # type: ignore[attr-defined]
                ids = call.args[:count]
                if len(ids) < count or not all(
                    isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value
                    for a in ids
                ):
                    bad.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert not bad, f"message ids that are not literal text: {bad}"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_used_message_has_a_translation(locale: str) -> None:
    """Each sentence the code can show has a non-empty, non-fuzzy translation (named if not)."""
    translated = {e.msgid for e in catalog_entries(locale) if all(e.forms) and not e.message.fuzzy}
    missing = [
        f"{msgid!r} ({where[0]})" for msgid, where in used_ids().items() if msgid not in translated
    ]
    assert not missing, f"{locale} has no translation for: " + "; ".join(missing)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_no_catalog_entry_is_unused(locale: str) -> None:
    """A translation whose sentence the code no longer says is removed (named if not)."""
    unused = [
        f"{e.file}: {e.msgid!r}" for e in catalog_entries(locale) if e.msgid not in used_ids()
    ]
    assert not unused, f"{locale} translations nothing uses: " + "; ".join(unused)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_a_sentence_in_several_catalogs_is_translated_the_same(locale: str) -> None:
    """Catalogs are merged (the last file wins), so a sentence two features both say must
    read the same in both, or one feature would silently show the other's wording."""
    seen: dict[str, Entry] = {}
    differ = []
    for entry in catalog_entries(locale):
        first = seen.setdefault(entry.msgid, entry)
        if first is not entry and first.forms != entry.forms:
            differ.append(
                f"{entry.msgid!r}: {first.forms} in {first.file}, {entry.forms} in {entry.file}"
            )
    assert not differ, "; ".join(differ)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_translations_keep_the_placeholders(locale: str) -> None:
    """Every form of a translation has exactly the English id's {placeholders}."""
    wrong = []
    for entry in catalog_entries(locale):
        mid = entry.message.id
        ids = list(mid) if isinstance(mid, list | tuple) else [mid]
        expected = {name for text in ids for name in PLACEHOLDER.findall(str(text))}
        for form in entry.forms:
            if set(PLACEHOLDER.findall(form)) != expected:
                wrong.append(f"{entry.file}: {entry.msgid!r} → {form!r}")
    assert not wrong, "placeholders differ: " + "; ".join(wrong)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_plural_entries_have_the_languages_forms(locale: str) -> None:
    """ngettext sentences are plural entries with as many forms as the language has."""
    plural_ids = extracted()[1]
    entries = {e.msgid: e for e in catalog_entries(locale)}
    assert plural_ids, "the code uses ngettext"
    for msgid in plural_ids:
        entry = entries[msgid]
        assert entry.message.pluralizable, msgid
        with (LOCALES_DIR / locale.replace("-", "_") / entry.file).open("rb") as handle:
            forms = read_po(handle).num_plurals
        assert len(entry.forms) == forms, msgid
