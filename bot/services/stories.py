"""What group stories need from the rest of Couplet: a round's backend call and the
server's story settings (`bot.stories.Proposer`).

A round is one request with `n` (emulated by the client where the backend
ignores it), with the parameters /complete would use in the story's thread and
the story's preset (option > preset > channel preset > server > bot defaults,
clamped to the server's limits: `n_limit` can lower the candidates). It asks
for logprobs where the backend gives them — ties go to the likelier text — and
never streams or echoes. Usage limits, the fair queue and the ledger (with the
story's id) wrap the call, as for every generation.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.completions import CleanMode, CompletionResult, Support, clean_text
from bot.i18n import Msg
from bot.services.generation import PreparedGeneration, Requester
from bot.services.metering import Waiting, report
from bot.stories import Member, Proposal, Proposals, StorySettings
from bot.stories.proposals import PositionCallback
from bot.stories.settings import (
    DEFAULT_IDLE_MINUTES,
    IDLE_MINUTES,
    MODERATOR_ROLE,
    STARTER_ROLE,
)

if TYPE_CHECKING:
    from bot.services.generation import GenerationService
    from bot.services.server_settings import ServerSettingsService

log = logging.getLogger(__name__)

COMMAND = "story"
# The fewest logprobs that give each generated token's own (what the mean needs).
LOGPROBS = 1


def affinity_key(story_id: int) -> str:
    """The pool's affinity key of a story: the same in every process."""
    return f"story:{story_id}"


def requester_of(member: Member) -> Requester:
    return Requester(
        user_id=member.user_id,
        guild_id=member.guild_id,
        channel_id=member.channel_id,
        name=member.name,
        role_ids=member.role_ids,
        manages_server=member.manages_server,
    )


def cleaned(text: str, mode: CleanMode) -> str:
    """A candidate cleaned as the server cleans completions; a leading space that
    `seed` mode would drop is kept, because the candidate continues the text."""
    body = clean_text(text, mode)
    if mode == "seed" and body and text[:1].isspace():
        return " " + body
    return body


class StoryBackend:
    """Writes rounds' candidates through the generation service; reads story settings."""

    def __init__(self, generation: GenerationService, settings: ServerSettingsService) -> None:
        self.generation = generation
        self.server_settings = settings

    async def settings(self, guild_id: int) -> StorySettings:
        config = await self.server_settings.get(guild_id)
        return StorySettings(
            starter_role=config.value(STARTER_ROLE),
            moderator_role=config.value(MODERATOR_ROLE),
            idle_minutes=config.value(IDLE_MINUTES) or DEFAULT_IDLE_MINUTES,
        )

    async def _prepare(
        self, member: Member, prompt: str, preset: str | None, count: int
    ) -> PreparedGeneration:
        options: dict[str, Any] = {"n": count, "echo": False, "stream": False}
        profile = await self.generation.completions.profile()
        if profile.supports("logprobs") is not Support.REFUSED and profile.max_logprobs >= 1:
            options["logprobs"] = LOGPROBS
        return await self.generation.prepare(requester_of(member), prompt, options, preset)

    async def check(self, member: Member, preset: str | None, count: int) -> list[str | Msg]:
        """The parameters a round of this story would use, checked now (an unknown
        preset, a model the server no longer allows); the limits that would apply."""
        prepared = await self._prepare(member, "-", preset, count)
        return list(prepared.clamped)

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
        prepared = await self._prepare(member, prompt, preset, count)
        request = prepared.request
        metering = self.generation.metering
        waiting = Waiting(deadline=deadline, on_position=on_position, request_id=request_id)
        async with metering.call(
            prepared.requester, request, command=COMMAND, waiting=waiting, story_id=story_id
        ) as meter:
            # The round's one backend call; a pool of model servers keeps a story's
            # rounds on one server (the story's text is its prompt cache).
            result = await self.generation.completions.complete(
                request, affinity=affinity_key(story_id)
            )
            report(meter, result.usage, result.model)
        params = request.model_dump(mode="json", exclude_none=True, exclude={"prompt"})
        params["model"] = result.model or params.get("model")
        notes: list[str | Msg] = [*prepared.clamped, *prepared.notes, *result.warnings]
        return Proposals(self._proposals(result, prepared), params, notes)

    @staticmethod
    def _proposals(result: CompletionResult, prepared: PreparedGeneration) -> list[Proposal]:
        request = prepared.request
        # An emulated `n` with a seed gives request i the seed + i (see the client).
        per_request = request.seed is not None and "n" in result.emulated
        found = []
        for choice in sorted(result.choices, key=lambda c: c.index):
            mean = choice.mean_logprob
            if mean is None and choice.logprobs is not None:
                mean = choice.logprobs.mean()
            seed = request.seed
            if per_request and seed is not None:
                seed += choice.index
            found.append(Proposal(cleaned(choice.text, prepared.clean_mode), mean, seed))
        return found
