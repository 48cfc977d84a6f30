"""What a round asks of the model, as the stories feature sees it.

The backend call itself — the story's preset and the server's parameters, the
usage limits and the fair queue, the request — lives with the other use cases
(`bot.services.stories.StoryBackend`) and is handed to `StoryService` as a
`Proposer`. The story's id goes along to the call, so that a pool of model
servers can keep one story's rounds on one server (its prompt cache).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.i18n import Msg
from bot.stories.settings import Member, StorySettings

PositionCallback = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class Proposal:
    """One continuation the model wrote (cleaned), with what made it."""

    text: str
    mean_logprob: float | None = None
    seed: int | None = None


@dataclass
class Proposals:
    """A round's candidates from one request, the parameters sent, and notes for the
    footer (limits applied, emulated parameters)."""

    candidates: list[Proposal]
    params: dict[str, Any] = field(default_factory=dict)
    notes: list[str | Msg] = field(default_factory=list)


class Proposer(Protocol):
    """Writes a round's candidates and knows a server's story settings."""

    async def check(self, member: Member, preset: str | None, count: int) -> list[str | Msg]:
        """Refuse (ParameterError) a preset or count no round could use; notes on limits."""

    async def propose(
        self,
        *,
        story_id: int,
        member: Member,
        prompt: str,
        count: int,
        preset: str | None,
        deadline: float | None = None,
        on_position: PositionCallback | None = None,
        request_id: str | None = None,
    ) -> Proposals:
        """`count` continuations of `prompt`, charged to `member` for this story
        (`request_id` names the charge: the same round run again counts once)."""

    async def settings(self, guild_id: int) -> StorySettings:
        """The server's story settings."""
