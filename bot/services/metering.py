"""The usage step around every backend call: limits, the fair queue, the ledger.

    async with metering.call(requester, request, command="complete", waiting=w) as meter:
        result = await completions.complete(request)
        report(meter, result.usage, result.model)

One step in each use case's sequence, right around the backend call: input
moderation comes before it (nothing is reserved for a prompt that is
refused), output moderation after it. Without a usage service (the CLI,
some tests) it does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.completions import CompletionRequest, Usage
from bot.completions.profiles import DEFAULT_MAX_TOKENS
from bot.errors import BackendError
from bot.usage import Cost, Meter, Subject, estimate_tokens
from bot.usage.queue import PositionCallback

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from bot.completions import CompletionsClient
    from bot.services.generation import Requester
    from bot.services.server_settings import ServerSettingsService
    from bot.usage import UsageService


@dataclass(frozen=True)
class Waiting:
    """How long a request may wait for its turn, and who hears its position.

    `deadline` is in seconds since the epoch (the usage clock); past it the
    request is dropped, because its answer could no longer be sent.
    `request_id` names the request's usage reservation: a request run again
    after its process died passes the same id, so it does not count twice.
    """

    deadline: float | None = None
    on_position: PositionCallback | None = None
    request_id: str | None = None


def subject_of(requester: Requester) -> Subject:
    return Subject(
        user_id=requester.user_id,
        guild_id=requester.guild_id,
        channel_id=requester.channel_id,
        user_name=requester.name,
        role_ids=requester.role_ids,
        manages_server=requester.manages_server,
    )


def cost_of(request: CompletionRequest, requests: int) -> Cost:
    """The most a request can use: its prompt (estimated) per HTTP request and
    max_tokens for each candidate."""
    max_tokens = request.max_tokens if request.max_tokens is not None else DEFAULT_MAX_TOKENS
    return Cost(
        prompt_tokens=estimate_tokens(request.prompt),
        max_tokens=max_tokens,
        n=request.n,
        best_of=request.best_of if request.wants_best_of else None,
        requests=requests,
    )


def report(meter: Meter, usage: Usage, model: str, *, counted: bool = False) -> None:
    meter.report(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        model=model,
        counted=counted,
    )


class Metering:
    """Charges backend calls to members (see the module docstring)."""

    def __init__(
        self,
        usage: UsageService | None,
        completions: CompletionsClient,
        settings: ServerSettingsService | None = None,
    ) -> None:
        self.usage = usage
        self.completions = completions
        self.settings = settings

    @asynccontextmanager
    async def call(
        self,
        requester: Requester,
        request: CompletionRequest,
        *,
        command: str,
        waiting: Waiting | None = None,
    ) -> AsyncIterator[Meter]:
        """Reserve, wait for a turn, let the caller call the backend; settle and record."""
        if self.usage is None:
            yield Meter()
            return
        profile = await self.completions.profile()
        cost = cost_of(request, await self.completions.request_count(request))
        exempt = False
        if self.settings is not None and requester.guild_id is not None:
            exempt = (await self.settings.get(requester.guild_id)).limits_exempt_managers
        waiting = waiting or Waiting()
        async with self.usage.metered(
            subject_of(requester),
            cost,
            command=command,
            backend=profile.name,
            backend_key=self.completions.pool_key,
            servers=self.completions.servers,
            exempt=exempt,
            deadline=waiting.deadline,
            on_position=waiting.on_position,
            request_id=waiting.request_id,
        ) as meter:
            yield meter

    async def count_stream(self, request: CompletionRequest, text: str) -> Usage:
        """A streamed completion's usage when the backend reported none: counted with its
        tokenizer, else estimated (about 4 bytes a token). Nothing is counted (zeros)
        without a usage service."""
        if self.usage is None:
            return Usage()
        try:
            counted = await self.completions.count_usage(request, text)
        except BackendError as err:
            # The answer is ready: a tokenizer that fails costs precision, not the reply.
            log.warning("could not count a streamed completion's tokens (%s); estimating", err)
            counted = None
        if counted is not None:
            return counted
        prompt, completion = -(-len(request.prompt.encode()) // 4), -(-len(text.encode()) // 4)
        return Usage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )
