"""Moderation's sentences have Simplified Chinese translations, and its catalog has no
entry the code does not use."""

from __future__ import annotations

import ast
from pathlib import Path

from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, render
from bot.moderation.verdicts import ModerationRefused, Verdict

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    *sorted((ROOT / "bot" / "moderation").glob("*.py")),
    ROOT / "bot" / "render" / "moderation.py",
    *sorted((ROOT / "cogs" / "moderation").glob("*.py")),
]
CATALOG = LOCALES_DIR / "zh_CN" / "moderation.po"


def used_ids() -> set[str]:
    """The English ids of every `_()` and `ngettext()` call in moderation's modules."""
    ids = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("_", "ngettext")
            ):
                first = node.args[0]
                assert isinstance(first, ast.Constant), f"{path}:{node.lineno}: not a literal"
                ids.add(first.value)
    return ids


def catalog_ids() -> dict[str, object]:
    with CATALOG.open("rb") as handle:
        po = read_po(handle, locale="zh_CN")
    return {str(m.id[0] if isinstance(m.id, list | tuple) else m.id): m.string for m in po if m.id}


def test_every_sentence_is_translated_and_every_entry_used() -> None:
    """The catalog and the code hold the same ids, each with a translation."""
    used, translated = used_ids(), catalog_ids()
    assert used - set(translated) == set(), "untranslated"
    assert set(translated) - used == set(), "unused entries"
    assert all(translated.values())


def test_a_refusal_reads_in_chinese() -> None:
    """A member whose Discord is in Simplified Chinese is told in Chinese, category kept."""
    error = ModerationRefused(Verdict("block", "hate"), stage="input")
    assert error.text("zh-CN") == "你的文本没有发送给模型：本服务器的审核会扣下 hate。"
    assert render(error.msg, "en-US").startswith("Your text was not sent to the model")
