"""Categories, actions and the defaults: the one place they are defined.

A category is something a provider can find in a text (OpenAI's categories,
`profanity` from the offline classifier, `wordlist` from the server's own
lists, `automod` from the server's Discord AutoMod rules). The server's policy
gives each category an action; the strictest action found decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

Action = Literal["allow", "flag", "hold", "block"]
# From the mildest to the strictest.
ACTIONS: tuple[Action, ...] = ("allow", "flag", "hold", "block")
FailureMode = Literal["open", "closed"]
FAILURE_MODES: tuple[FailureMode, ...] = ("open", "closed")
DEFAULT_FAILURE_MODE: FailureMode = "closed"

# What OpenAI's omni-moderation-latest reports (POST /v1/moderations).
OPENAI_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
PROFANITY = "profanity"
WORDLIST = "wordlist"
AUTOMOD = "automod"
CATEGORIES = (*OPENAI_CATEGORIES, PROFANITY, WORDLIST, AUTOMOD)

# The providers, and the categories each can find.
OPENAI = "openai"
CLASSIFIER = "classifier"
PROVIDER_CATEGORIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        OPENAI: OPENAI_CATEGORIES,
        CLASSIFIER: (PROFANITY,),
        WORDLIST: (WORDLIST,),
        AUTOMOD: (AUTOMOD,),
    }
)

# The gravest OpenAI categories are blocked; the server's own rules too.
_BLOCKED = {
    "sexual/minors",
    "self-harm/instructions",
    "hate/threatening",
    "violence/graphic",
    "illicit/violent",
    WORDLIST,
    AUTOMOD,
}
DEFAULT_ACTIONS: Mapping[str, Action] = MappingProxyType(
    {name: ("block" if name in _BLOCKED else "flag") for name in CATEGORIES}
)


def strictness(action: Action) -> int:
    """0 for allow up to 3 for block."""
    return ACTIONS.index(action)


def strictest(actions: list[Action]) -> Action:
    """The strictest of `actions` (allow when there are none)."""
    return max(actions, key=strictness, default="allow")


def withheld(action: Action) -> bool:
    """Whether a text with this action is kept from the channel."""
    return action in ("hold", "block")
