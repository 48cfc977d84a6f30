"""Who wins a round, how a story's text is joined, and its exports."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.storage.stories import NodeRecord, StoryRecord
from bot.stories.rules import choose, leaders, ranking
from bot.stories.tree import export, path, separator, text_of

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def node(
    id: int,
    votes: int = 0,
    mean: float | None = None,
    *,
    parent: int | None = None,
    text: str = "",
    source: str = "model",
    position: int = 0,
    author: int | None = None,
    status: str = "candidate",
) -> NodeRecord:
    return NodeRecord(
        id=id,
        story_id=1,
        parent_id=parent,
        round_id=None,
        position=position or id,
        text=text,
        source=source,
        author_id=author,
        params=None,
        seed=None,
        mean_logprob=mean,
        votes=votes,
        status=status,
        created_at=NOW,
    )


def test_most_votes_win_then_the_likelier_text() -> None:
    """Votes first; a tie goes to the higher mean logprob."""
    assert choose([node(1, 2, -3.0), node(2, 3, -9.0)]) == 2
    assert choose([node(1, 2, -3.0), node(2, 2, -1.5), node(3, 0, -0.1)]) == 2
    assert [n.id for n in ranking([node(1, 0, -2.0), node(2, 1), node(3, 0, -1.0)])] == [2, 3, 1]


def test_a_tie_the_scores_cannot_break_goes_to_a_moderator() -> None:
    """Equal means, or a tied candidate without one (a member's own), leave a tie."""
    assert choose([node(1, 1, -2.0), node(2, 1, -2.0)]) is None
    assert [n.id for n in leaders([node(1, 1, -2.0), node(2, 1, -2.0), node(3, 0, -1.0)])] == [
        1,
        2,
    ]
    tied = [node(1, 2, -1.0), node(2, 2, None, source="member")]
    assert choose(tied) is None and len(leaders(tied)) == 2
    assert choose([node(1, 0), node(2, 0)]) is None  # no votes and no logprobs


@pytest.mark.parametrize(
    ("before", "after", "sep"),
    [
        ("The keeper", "climbed", " "),
        ("The keeper ", "climbed", ""),
        ("The keeper", ", then", ""),
        ("灯塔守护者", "爬上了楼梯", ""),
        ("He said", "\nNo.", ""),
        ("", "Start", ""),
    ],
)
def test_member_text_is_joined_with_a_space_only_where_one_is_missing(
    before: str, after: str, sep: str
) -> None:
    """Spaces between words, none before punctuation, between CJK characters or where
    one side has whitespace."""
    assert separator(before, after) == sep


def story(head: int) -> StoryRecord:
    return StoryRecord(
        id=7,
        guild_id=1,
        channel_id=2,
        thread_id=3,
        title="The lighthouse",
        mode="vote",
        candidates=3,
        window_minutes=10,
        quorum=None,
        preset=None,
        status="active",
        root_node_id=1,
        head_node_id=head,
        current_round_id=None,
        created_by=42,
        created_at=NOW,
        last_activity_at=NOW,
    )


TREE = [
    node(1, text="The keeper climbed", source="opening", author=42, status="chosen"),
    node(2, 3, -1.0, parent=1, text=" the stairs.", status="chosen"),
    node(3, 1, -2.0, parent=1, text=" into bed.", status="discarded"),
    node(4, 2, None, parent=2, text="Then the lamp went out.", source="member", author=9,
         status="chosen"),
    node(5, 0, None, parent=3, text="A branch kept.", source="edit", author=8,
         status="discarded"),
]  # fmt: skip


def test_the_text_is_the_path_to_the_head() -> None:
    """Model text continues exactly; a member's piece gets its space; other branches stay
    out of the text."""
    assert [n.id for n in path(TREE, 4)] == [1, 2, 4]
    assert text_of(path(TREE, 4)) == "The keeper climbed the stairs. Then the lamp went out."
    assert text_of(path(TREE, 5)) == "The keeper climbed into bed. A branch kept."


def test_exports_carry_the_whole_tree() -> None:
    """md is the title and text; json the story and every node with the issue's keys;
    jsonl one node per line, equal to json's nodes."""
    md = export(story(4), TREE, "md")
    assert md == "# The lighthouse\n\nThe keeper climbed the stairs. Then the lamp went out.\n"
    document = json.loads(export(story(4), TREE, "json"))
    assert document["story"]["head_id"] == 4 and document["story"]["title"] == "The lighthouse"
    assert document["story"]["text"].endswith("lamp went out.")
    assert [n["id"] for n in document["nodes"]] == [1, 2, 3, 4, 5]
    assert document["nodes"][3] == {
        "id": 4,
        "parent_id": 2,
        "text": "Then the lamp went out.",
        "source": "member",
        "author_id": "9",
        "status": "chosen",
        "votes": 2,
        "mean_logprob": None,
    }
    lines = export(story(4), TREE, "jsonl").splitlines()
    assert [json.loads(line) for line in lines] == document["nodes"]
