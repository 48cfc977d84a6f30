"""Every sentence of group stories has its Simplified Chinese translation (in stories.po,
or the same sentence in another feature's catalog), and stories.po holds nothing the code
no longer says; a story's round reads in Chinese."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, catalog
from bot.render.story import round_message
from bot.storage.stories import NodeRecord, RoundRecord, RoundState, StoryRecord

ROOT = Path(__file__).resolve().parents[2]
FEATURE = [
    ROOT / "bot/stories",
    ROOT / "cogs/stories",
    ROOT / "bot/render/story.py",
    ROOT / "bot/services/stories.py",
]
CATALOG = LOCALES_DIR / "zh_CN" / "stories.po"
NOW = datetime(2026, 12, 3, tzinfo=UTC)


def message_ids(paths: list[Path]) -> set[str]:
    """The literal first argument of every `_()` and `ngettext()` call in these files."""
    found = set()
    for path in paths:
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in ("_", "ngettext")
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    found.add(node.args[0].value)
    return found


def stories_catalog() -> dict[str, object]:
    with CATALOG.open("rb") as handle:
        po = read_po(handle, locale="zh_CN")
    return {str(m.id[0] if isinstance(m.id, list | tuple) else m.id): m.string for m in po if m.id}


def test_every_story_sentence_is_translated() -> None:
    """Each sentence the stories code says has a zh-CN translation."""
    merged = catalog("zh-CN")
    assert merged is not None
    missing = sorted(m for m in message_ids(FEATURE) if not merged.messages.get(m))
    assert not missing, missing
    assert len(message_ids(FEATURE)) > 100


def test_the_stories_catalog_has_no_unused_entry() -> None:
    """Each entry of stories.po is a sentence some module of bot/ or cogs/ still says."""
    used = message_ids([ROOT / "bot", ROOT / "cogs"])
    unused = sorted(set(stories_catalog()) - used)
    assert not unused, unused


def test_a_round_reads_in_chinese() -> None:
    """The round message's header, tally and status line come out in Chinese."""
    story = StoryRecord(1, 2, 3, 4, "灯塔", "vote", 2, 10, None, None, "active", 1, 1, 7, 9,
                        NOW, NOW)  # fmt: skip
    round_ = RoundRecord(7, 1, 2, 1, "open", None, 9, 4, 5, None, NOW, None, None, None,
                         None, None, NOW, None)  # fmt: skip
    nodes = [
        NodeRecord(10 + i, 1, 1, 7, i + 1, f" 第{i}段", "model", None, None, None, -1.0, i,
                   "candidate", NOW)
        for i in range(2)
    ]  # fmt: skip
    text = round_message(RoundState(round_, story, nodes), [], None, "zh-CN")
    assert text.startswith("《灯塔》**第 2 轮**")
    assert "**2.** 1 票" in text and "用按钮投票：每人一票，可以更改。" in text
