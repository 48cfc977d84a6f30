"""The /sampling use case: the next token's odds on the server's own model.

Asks the backend for the next token's top alternatives (one token, as many
logprobs as the backend profile allows), works out what the requested
temperature and top_p make of them (bot.services.sampling_math), stores the
chart so its buttons work after a restart, and draws samples to compare
theory with practice. No Discord here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.completions import BackendProfile, CompletionRequest, Support
from bot.errors import BackendError, CoupletError
from bot.i18n import Msg, _
from bot.services.metering import report
from bot.services.sampling_math import NextToken, SamplingPicture, count_samples, picture

if TYPE_CHECKING:
    from bot.completions import CompletionsClient
    from bot.services.generation import GenerationService, PreparedGeneration, Requester
    from bot.storage.sampling import SamplingChart, SamplingStore

log = logging.getLogger(__name__)

# Sample it draws this many one-token samples.
SAMPLE_COUNT = 10
# The options /sampling takes (the rest of a generation's parameters do not
# change the next token's odds as charted).
OPTION_NAMES = ("temperature", "top_p", "model")
# The API's defaults when neither an option nor a server setting gives one.
DEFAULT_TEMPERATURE = 1.0
DEFAULT_TOP_P = 1.0


class SamplingUnavailable(CoupletError):
    """The backend cannot give what a chart needs (no logprobs, or nothing to chart)."""


@dataclass
class SamplingOutcome:
    """One charted position, ready to render."""

    chart_id: int | None
    prompt: str
    model: str | None
    backend: str
    picture: SamplingPicture
    notes: list[str | Msg] = field(default_factory=list)
    # The tokens Sample it drew, when it was clicked.
    samples: tuple[str, ...] | None = None

    def sample_counts(self) -> tuple[list[int], int]:
        """How many samples came out as each listed token, and as an unlisted one."""
        return count_samples(self.picture.tokens, self.samples or ())


def _source_note(name: str, value: float, source: str | None) -> Msg | None:
    """Where a setting came from, when the member did not type it."""
    if source in (None, "option"):
        return None
    shown = f"{value:g}"
    if source == "server":
        return _("{param} {value} is this server's default.", param=name, value=shown)
    if source.startswith("channel preset:"):
        return _(
            "{param} {value} is this channel's preset {preset}.",
            param=name,
            value=shown,
            preset=source.split(":", 1)[1],
        )
    if source.startswith("preset:"):
        return _(
            "{param} {value} is preset {preset}.",
            param=name,
            value=shown,
            preset=source.split(":", 1)[1],
        )
    if source == "bot default":
        return _("{param} {value} is Couplet's default.", param=name, value=shown)
    return _("{param} {value} comes from {source}.", param=name, value=shown, source=source)


class SamplingService:
    """Charts, samples and steps through the next token's distribution."""

    def __init__(
        self,
        completions: CompletionsClient,
        generation: GenerationService,
        store: SamplingStore | None = None,
    ) -> None:
        self.completions = completions
        self.generation = generation
        self.store = store

    async def profile(self) -> BackendProfile:
        """The backend profile, refusing a backend that gives no logprobs."""
        profile = await self.completions.profile()
        if profile.supports("logprobs") is Support.REFUSED or profile.max_logprobs < 1:
            reason = profile.reasons.get("logprobs") or _(
                "{backend} returns no logprobs.", backend=profile.name
            )
            raise SamplingUnavailable(
                _(
                    "/sampling needs the next token's probabilities, which this backend "
                    "can't give: {reason}",
                    reason=reason,
                )
            )
        return profile

    async def chart(
        self, requester: Requester, prompt: str, options: Mapping[str, Any] | None = None
    ) -> SamplingOutcome:
        """Chart the token after `prompt` at the given (or this channel's) settings.

        temperature, top_p and model are resolved and checked as for /complete
        (ranges, the server's defaults and allowed models); ParameterError on
        a bad value.
        """
        await self.profile()
        temperature, top_p, model, notes = await self._settings(requester, prompt, options)
        return await self._chart_at(requester, prompt, temperature, top_p, model, notes)

    async def _settings(
        self, requester: Requester, prompt: str, options: Mapping[str, Any] | None
    ) -> tuple[float, float, str | None, list[str | Msg]]:
        """temperature, top_p and model as /complete would resolve them here, and notes."""
        prepared = await self._prepared(requester, prompt, options)
        request = prepared.request
        temperature = (
            request.temperature if request.temperature is not None else DEFAULT_TEMPERATURE
        )
        top_p = request.top_p if request.top_p is not None else DEFAULT_TOP_P
        notes: list[str | Msg] = [
            note
            for name, value in (("temperature", temperature), ("top_p", top_p))
            if (note := _source_note(name, value, prepared.sources.get(name)))
        ]
        return temperature, top_p, request.model, notes

    async def _prepared(
        self, requester: Requester, prompt: str, options: Mapping[str, Any] | None
    ) -> PreparedGeneration:
        """What /complete would send here with these options (ParameterError if refused)."""
        given = {k: v for k, v in (options or {}).items() if k in OPTION_NAMES and v is not None}
        return await self.generation.prepare(requester, prompt, given)

    async def _recheck(self, chart: SamplingChart, requester: Requester) -> CompletionRequest:
        """A button runs the chart's settings again: they must still be allowed here.

        Returns /complete's request with them (which also carries the server's
        `sampling` mode).
        """
        options = {"temperature": chart.temperature, "top_p": chart.top_p, "model": chart.model}
        return (await self._prepared(requester, chart.prompt, options)).request

    async def load(self, chart_id: int) -> SamplingChart | None:
        """A stored chart, or None when it is gone (or nothing is stored)."""
        if self.store is None:
            return None
        return await self.store.get(chart_id)

    async def show(self, chart: SamplingChart) -> SamplingOutcome:
        """A stored chart as an outcome again (no backend call for the odds)."""
        profile = await self.profile()
        listed = NextToken.from_top_logprobs(chart.top_logprobs)
        return SamplingOutcome(
            chart_id=chart.id,
            prompt=chart.prompt,
            model=chart.model,
            backend=profile.name,
            picture=picture(
                listed,
                chart.temperature,
                chart.top_p,
                top_p_before_temperature=profile.top_p_before_temperature,
            ),
        )

    async def sample(
        self, chart: SamplingChart, requester: Requester, count: int = SAMPLE_COUNT
    ) -> SamplingOutcome:
        """Draw `count` one-token samples at the chart's settings (theory against practice).

        With the server's `sampling` at server, the backend's own samplers act
        too; the result's note says so under the chart.
        """
        checked = await self._recheck(chart, requester)
        outcome = await self.show(chart)
        request = CompletionRequest.build(
            prompt=chart.prompt,
            model=chart.model,
            max_tokens=1,
            n=count,
            temperature=chart.temperature,
            top_p=chart.top_p,
            sampling=checked.sampling,
        )
        async with self.generation.metering.call(requester, request, command="sampling") as meter:
            result = await self.completions.complete(request)
            report(meter, result.usage, result.model)
        outcome.samples = tuple(choice.text for choice in result.choices)
        outcome.model = result.model or chart.model
        outcome.notes.extend(result.warnings)
        return outcome

    async def next_token(self, chart: SamplingChart, requester: Requester) -> SamplingOutcome:
        """Append the likeliest token to the prompt and chart the position after it."""
        await self._recheck(chart, requester)
        likeliest = NextToken.from_top_logprobs(chart.top_logprobs).tokens[0]
        if not likeliest:
            raise SamplingUnavailable(
                _(
                    "The likeliest next token has no text of its own (part of a character, or "
                    "the end of the text), so Next token can't append it."
                )
            )
        return await self._chart_at(
            requester,
            chart.prompt + likeliest,
            chart.temperature,
            chart.top_p,
            chart.model,
            [],
        )

    async def _chart_at(
        self,
        requester: Requester,
        prompt: str,
        temperature: float,
        top_p: float,
        model: str | None,
        notes: list[str | Msg],
    ) -> SamplingOutcome:
        profile = await self.profile()
        listed, served_model = await self._listed(requester, prompt, model, profile)
        chart_id = None
        if self.store is not None:
            from bot.storage.sampling import SamplingChart

            chart_id = await self.store.add(
                SamplingChart(
                    user_id=requester.user_id,
                    guild_id=requester.guild_id,
                    channel_id=requester.channel_id,
                    prompt=prompt,
                    # The name asked for, so the buttons ask for the same model again.
                    model=model,
                    temperature=temperature,
                    top_p=top_p,
                    top_logprobs=list(zip(listed.tokens, listed.logprobs, strict=True)),
                )
            )
        return SamplingOutcome(
            chart_id=chart_id,
            prompt=prompt,
            model=served_model or model,
            backend=profile.name,
            picture=picture(
                listed,
                temperature,
                top_p,
                top_p_before_temperature=profile.top_p_before_temperature,
            ),
            notes=notes,
        )

    async def _listed(
        self, requester: Requester, prompt: str, model: str | None, profile: BackendProfile
    ) -> tuple[NextToken, str | None]:
        """The backend's top alternatives for the token after `prompt`, and the model name.

        Asked at temperature 0: the answer is repeatable, and a server that
        lists only the tokens it generated (llama-cpp-python) lists nothing when
        a random draw ends the text. The servers Couplet knows report logprobs
        from the model's own distribution, before temperature.
        """
        request = CompletionRequest.build(
            prompt=prompt,
            model=model,
            max_tokens=1,
            logprobs=profile.max_logprobs,
            temperature=0,
            top_p=1,
        )
        async with self.generation.metering.call(requester, request, command="sampling") as meter:
            result = await self.completions.complete(request)
            report(meter, result.usage, result.model)
        logprobs = result.choices[0].logprobs
        top = logprobs.top_logprobs[0] if logprobs and logprobs.top_logprobs else None
        if not top:
            if logprobs is not None and not logprobs.tokens:
                raise SamplingUnavailable(
                    _(
                        "The model's likeliest next step is to end the text here, and the "
                        "backend lists no alternatives for it: add to the prompt and try again."
                    )
                )
            raise BackendError(_("The backend listed no alternatives for the next token."))
        try:
            return NextToken.from_top_logprobs(top, limit=profile.max_logprobs), result.model
        except ValueError:
            raise BackendError(
                _("The backend listed no usable probabilities for the next token.")
            ) from None
