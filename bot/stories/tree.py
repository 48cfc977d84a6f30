"""A story's text and its exports, from its tree of nodes.

The text is the path from the root (the opening) to the story's head. Model
text continues what came before exactly (the model wrote it after that very
prompt); a member's text or a moderator's edit is joined with a space when
neither side has one and the script uses spaces (not between Chinese or
Japanese characters, nor before punctuation).

Exports:
- `md`: the title and the text;
- `json`: `{"story": {...}, "nodes": [...]}`, every node with `id`, `parent_id`,
  `text`, `source`, `author_id` (a string, as Discord writes ids, or null for the
  model), `status`, `votes` and `mean_logprob`;
- `jsonl`: the same nodes, one per line.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from typing import Any, Literal

from bot.storage.stories import EDIT, MEMBER, NodeRecord, StoryRecord

ExportFormat = Literal["md", "json", "jsonl"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("md", "json", "jsonl")
NODE_KEYS = ("id", "parent_id", "text", "source", "author_id", "status", "votes", "mean_logprob")


def path(nodes: Sequence[NodeRecord], head_id: int) -> list[NodeRecord]:
    """The nodes from the root to `head_id`, in order."""
    by_id = {n.id: n for n in nodes}
    found: list[NodeRecord] = []
    current: int | None = head_id
    while current is not None and current in by_id:
        node = by_id[current]
        found.append(node)
        current = node.parent_id
    return found[::-1]


def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def separator(before: str, after: str) -> str:
    """What goes between a text and a member-written piece after it."""
    if not before or not after:
        return ""
    last, first = before[-1], after[0]
    if last.isspace() or first.isspace():
        return ""
    if _wide(last) or _wide(first) or unicodedata.category(first).startswith("P"):
        return ""
    return " "


def joined(before: str, node: NodeRecord) -> str:
    """`before` continued by `node`'s text."""
    if node.source in (MEMBER, EDIT):
        return before + separator(before, node.text) + node.text
    return before + node.text


def text_of(nodes: Sequence[NodeRecord]) -> str:
    """The text of a path of nodes (root first)."""
    text = ""
    for node in nodes:
        text = joined(text, node)
    return text


def node_dict(node: NodeRecord) -> dict[str, Any]:
    """A node as the exports write it."""
    return {
        "id": node.id,
        "parent_id": node.parent_id,
        "text": node.text,
        "source": node.source,
        "author_id": str(node.author_id) if node.author_id is not None else None,
        "status": node.status,
        "votes": node.votes,
        "mean_logprob": node.mean_logprob,
    }


def story_dict(story: StoryRecord, text: str) -> dict[str, Any]:
    """A story's settings and state as the JSON export writes them."""
    return {
        "id": story.id,
        "title": story.title,
        "mode": story.mode,
        "candidates": story.candidates,
        "window_minutes": story.window_minutes,
        "quorum": story.quorum,
        "preset": story.preset,
        "status": story.status,
        "root_id": story.root_node_id,
        "head_id": story.head_node_id,
        "created_by": str(story.created_by),
        "created_at": story.created_at.isoformat(),
        "text": text,
    }


def export(story: StoryRecord, nodes: Sequence[NodeRecord], fmt: ExportFormat) -> str:
    """The story in `fmt` (see the module docstring)."""
    text = text_of(path(nodes, story.head_node_id))
    if fmt == "md":
        return f"# {story.title}\n\n{text}\n"
    rows = [node_dict(n) for n in sorted(nodes, key=lambda n: n.id)]
    if fmt == "json":
        document = {"story": story_dict(story, text), "nodes": rows}
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def export_name(story: StoryRecord, fmt: ExportFormat) -> str:
    return f"story-{story.id}.{fmt}"
