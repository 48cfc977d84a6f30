"""Every sentence of the usage feature has its Simplified Chinese translation in
bot/i18n/locales/zh_CN/usage.po, and that catalog holds nothing the code no longer says."""

from __future__ import annotations

import ast
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "bot/i18n/locales/zh_CN/usage.po"
FEATURE = [ROOT / "bot/usage", ROOT / "cogs/usage"]


def message_ids(paths: list[Path]) -> set[str]:
    """The literal first argument of every `_()` and `ngettext()` call in these files."""
    found = set()
    for path in paths:
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            for node in ast.walk(ast.parse(file.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in ("_", "ngettext")
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    found.add(node.args[0].value)
    return found


def catalog() -> dict[str, object]:
    with CATALOG.open("rb") as handle:
        po = read_po(handle, locale="zh_CN")
    return {str(m.id[0] if isinstance(m.id, list | tuple) else m.id): m.string for m in po if m.id}


def test_every_usage_sentence_is_translated() -> None:
    """Each sentence bot/usage and cogs/usage say has a non-empty zh-CN translation."""
    entries = catalog()
    missing = sorted(m for m in message_ids(FEATURE) if not entries.get(m))
    assert not missing, missing


def test_the_usage_catalog_has_no_unused_entry() -> None:
    """Each entry of usage.po is a sentence some module of bot/ or cogs/ still says."""
    used = message_ids([ROOT / "bot", ROOT / "cogs"])
    unused = sorted(set(catalog()) - used)
    assert not unused, unused
