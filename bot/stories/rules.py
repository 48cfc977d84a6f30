"""The rules of a story: its modes and limits, and who wins a round.

A round's winner has the most votes; a tie goes to the higher mean logprob (the
text the model found likelier), and a tie that leaves — equal scores, or a
candidate without one, such as a member's own — goes to a moderator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from bot.storage.stories import NodeRecord

Mode = Literal["vote", "approve", "vote+approve"]
MODES: tuple[Mode, ...] = ("vote", "approve", "vote+approve")
DEFAULT_MODE: Mode = "vote"

# The model's candidates per round, and a round's most candidates with members' own.
CANDIDATES_LOW, CANDIDATES_HIGH, DEFAULT_CANDIDATES = 2, 5, 3
MAX_CANDIDATES = 10  # two rows of five vote buttons
# A round's window, in minutes (a day at most), and the quorum's range.
WINDOW_LOW, WINDOW_HIGH, DEFAULT_WINDOW = 1, 1440, 10
QUORUM_LOW, QUORUM_HIGH = 1, 100
# Text lengths: a title is a thread name; the rest fit a Discord form field.
TITLE_LENGTH = 100
OPENING_LENGTH = 4000
DIRECTION_LENGTH = 300
WRITTEN_LENGTH = 1000


def votes_decide(mode: str) -> bool:
    """Whether members vote in this mode (in `approve` the model's best is proposed)."""
    return mode in ("vote", "vote+approve")


def needs_approval(mode: str) -> bool:
    """Whether a round's winner waits for a moderator."""
    return mode in ("approve", "vote+approve")


def _score(node: NodeRecord) -> float:
    return node.mean_logprob if node.mean_logprob is not None else -math.inf


def ranking(nodes: Sequence[NodeRecord]) -> list[NodeRecord]:
    """Best first: most votes, then higher mean logprob, then the earlier candidate."""
    return sorted(nodes, key=lambda n: (-n.votes, -_score(n), n.position, n.id))


def leaders(nodes: Sequence[NodeRecord]) -> list[NodeRecord]:
    """The candidates still level after the votes and the mean logprobs (one: a winner)."""
    if not nodes:
        return []
    most = max(n.votes for n in nodes)
    top = [n for n in nodes if n.votes == most]
    if len(top) == 1 or any(n.mean_logprob is None for n in top):
        return ranking(top)
    best = max(_score(n) for n in top)
    return ranking([n for n in top if _score(n) == best])


def choose(nodes: Sequence[NodeRecord]) -> int | None:
    """The winner's node id, or None when a moderator must break a tie."""
    level = leaders(nodes)
    return level[0].id if len(level) == 1 else None
