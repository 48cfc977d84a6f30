"""The generation use case: parameters in, cleaned candidates out.

Every generation (/complete, Regenerate, Continue; streamed or not) is one
sequence, each step a method here:

    prepare    resolve parameters (option > preset > channel preset > server >
               bot defaults, clamped), validate, build the `CompletionRequest`
    admit      check the member's text (moderation) before anything is reserved
    call       the backend, inside `metering.call` (usage limits, the fair
               queue, the ledger)
    _moderate  check each candidate; withheld ones are dropped
    _finish    clean into candidates and store, so that buttons (page,
               Regenerate, Continue, Tokens) find it also after a restart: the
               outcome is returned once the generation is committed
    render     by the cog, with bot.render

No Discord here: the cog passes ids and option values, and renders the outcome.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.completions import (
    GENERATION_PARAMS,
    Choice,
    CleanMode,
    CompletionRequest,
    CompletionResult,
    LogProbs,
    Sentence,
    clean_text,
)
from bot.completions.request import not_a_parameter
from bot.errors import ParameterError
from bot.i18n import Msg, _, join
from bot.moderation import Subject
from bot.services.metering import Metering, Waiting, report

if TYPE_CHECKING:
    from bot.completions import CompletionsClient
    from bot.moderation import ModerationService
    from bot.services.parameters import ParameterResolver
    from bot.storage.generations import GenerationRecord, GenerationStore

log = logging.getLogger(__name__)

# Option names the cog may pass (the API's parameters, plus `stream`).
OPTION_NAMES = (*GENERATION_PARAMS, "stream")


@dataclass(frozen=True)
class Requester:
    """Who asked, and where; the name, roles and Manage Server decide usage limits."""

    user_id: int
    guild_id: int | None = None
    channel_id: int | None = None
    private: bool = False
    name: str = ""
    # The member's roles (usage role overrides; AutoMod rules can exempt roles).
    role_ids: tuple[int, ...] = ()
    manages_server: bool = False

    @property
    def subject(self) -> Subject:
        """Who moderation checks texts for."""
        return Subject(
            self.user_id, self.guild_id, self.channel_id, frozenset(self.role_ids), self.private
        )


@dataclass(frozen=True)
class Display:
    """How a generation is shown, beyond its own text.

    `echo_prompt`: the prompt to show before the text (echo on).
    `prefix`: text generated earlier that this one continues (Continue).
    """

    echo_prompt: str | None = None
    prefix: str = ""
    continued_from: int | None = None


class StoredDisplay(BaseModel):
    """How a stored generation was made and shown: the JSON in its `display` column.

    Rows written by older versions may lack fields, hold null where a list or
    text is expected, or carry fields no longer used: all of them load.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    echo_prompt: str | None = None
    prefix: str = ""
    continued_from: int | None = None
    clean_mode: CleanMode = "preserve"
    sources: dict[str, str] = Field(default_factory=dict)
    clamped: list[Sentence] = Field(default_factory=list)
    notes: list[Sentence] = Field(default_factory=list)
    preset: str | None = None
    stream: bool = False
    streamed: bool = False
    elapsed: float | None = None

    @field_validator("prefix", "sources", "clamped", "notes", "stream", "streamed", mode="before")
    @classmethod
    def _null_is_default(cls, value: Any, info: Any) -> Any:
        if value is None:
            field = cls.model_fields[info.field_name]
            return field.get_default(call_default_factory=True)
        return value

    @property
    def shown(self) -> Display:
        return Display(self.echo_prompt, self.prefix, self.continued_from)


@dataclass(frozen=True)
class StoredGeneration:
    """A stored generation, typed: the request as sent, how it was shown, the result."""

    record: GenerationRecord
    request: CompletionRequest
    display: StoredDisplay

    @cached_property
    def result(self) -> CompletionResult:
        """Typed when first read: Regenerate needs only the request (and the display)."""
        return CompletionResult.model_validate(self.record.result)


@dataclass
class PreparedGeneration:
    """A validated request ready to send, and what went into it."""

    request: CompletionRequest
    requester: Requester
    sources: dict[str, str] = field(default_factory=dict)
    clamped: list[str | Msg] = field(default_factory=list)
    clean_mode: CleanMode = "preserve"
    stream: bool = False
    preset: str | None = None
    display: Display = field(default_factory=Display)
    notes: list[str | Msg] = field(default_factory=list)
    # Requests with the same key prefer the same model server of a pool (a story's
    # id, so its rounds reuse the server's prompt cache); None: the least busy one.
    affinity: str | None = None
    # The interaction job this answers (bot.interaction_jobs), marked with the stored
    # generation in its transaction; None when no job is kept for it.
    job_id: int | None = None


@dataclass(frozen=True)
class Candidate:
    """One choice as shown: cleaned text (prefix included) and its scores."""

    index: int
    text: str
    finish_reason: str | None
    rank: int | None = None
    mean_logprob: float | None = None
    logprobs: LogProbs | None = None


@dataclass
class GenerationOutcome:
    """The result of one generation, ready to render."""

    generation_id: int | None
    request: CompletionRequest
    result: CompletionResult
    candidates: list[Candidate]
    requester: Requester
    display: Display
    clean_mode: CleanMode
    sources: dict[str, str] = field(default_factory=dict)
    clamped: list[str | Msg] = field(default_factory=list)
    notes: list[str | Msg] = field(default_factory=list)
    elapsed: float = 0.0
    streamed: bool = False

    @property
    def emulated(self) -> list[str]:
        return list(self.result.emulated)

    @property
    def warnings(self) -> list[str | Msg]:
        return list(self.result.warnings)

    @property
    def shown_prompt(self) -> str | None:
        """The cleaned prompt to show before the text, when echo is on."""
        if self.display.echo_prompt is None:
            return None
        return clean_text(self.display.echo_prompt, self.clean_mode)

    def footer_notes(self) -> list[str | Msg]:
        """Sentences for the footer: clamps, emulation, warnings, service notes."""
        notes = [*self.clamped, *self.notes]
        if self.emulated:
            notes.append(
                _("Emulated by Couplet on this backend: {names}.", names=join(self.emulated))
            )
        notes.extend(self.warnings)
        return notes


class GenerationService:
    """Resolves, calls, cleans and stores completions."""

    def __init__(
        self,
        completions: CompletionsClient,
        parameters: ParameterResolver | None = None,
        store: GenerationStore | None = None,
        *,
        default_model: str | None = None,
        metering: Metering | None = None,
        moderation: ModerationService | None = None,
    ) -> None:
        self.completions = completions
        self.parameters = parameters
        self.store = store
        self.default_model = default_model
        # Usage limits, the fair queue and the ledger around each backend call.
        self.metering = metering or Metering(None, completions)
        self.moderation = moderation

    # -- preparing -----------------------------------------------------------

    async def prepare(
        self,
        requester: Requester,
        prompt: str,
        options: Mapping[str, Any] | None = None,
        preset: str | None = None,
    ) -> PreparedGeneration:
        """Validate options and resolve the effective parameters; ParameterError on bad input."""
        given = {k: v for k, v in (options or {}).items() if v is not None}
        unknown = sorted(set(given) - set(OPTION_NAMES))
        if unknown:
            name = unknown[0]
            raise not_a_parameter(name, given[name])
        if not prompt.strip():
            raise ParameterError(
                "prompt",
                prompt,
                _("some text"),
                _("prompt is empty: write some text to complete."),
            )
        if self.parameters is not None:
            resolved = await self.parameters.resolve(
                requester.guild_id, requester.channel_id, given, preset
            )
            params = dict(resolved.params)
            sources = dict(resolved.sources)
            clamped = list(resolved.clamped)
            clean_mode: CleanMode = "seed" if resolved.clean_mode == "seed" else "preserve"
            stream = resolved.stream
            preset_used = resolved.preset
        else:
            params, sources, clamped, clean_mode, stream, preset_used = (
                self._resolve_without_settings(given, preset)
            )
        if params.get("model") is None and self.default_model:
            params["model"] = self.default_model
            sources["model"] = "bot default"
        notes: list[str | Msg] = []
        if stream and (params.get("n") or 1) > 1:
            stream = False
            notes.append(
                _(
                    "stream was not used: n is {n}, and candidates are paged whole.",
                    n=params["n"],
                )
            )
        elif stream and params.get("logprobs") is not None:
            stream = False
            notes.append(_("stream was not used: token probabilities need the whole completion."))
        request = CompletionRequest.build(prompt=prompt, **params)
        return PreparedGeneration(
            request=request,
            requester=requester,
            sources=sources,
            clamped=clamped,
            clean_mode=clean_mode,
            stream=stream,
            preset=preset_used,
            display=Display(echo_prompt=prompt if request.echo else None),
            notes=notes,
        )

    @staticmethod
    def _resolve_without_settings(
        given: Mapping[str, Any], preset: str | None
    ) -> tuple[dict[str, Any], dict[str, str], list[str | Msg], CleanMode, bool, str | None]:
        """Options alone, for a service built without server settings (CLI, tests)."""
        from bot.completions import parse_logit_bias, parse_stop

        if preset:
            raise ParameterError(
                "preset",
                preset,
                _("no preset"),
                _("Presets need server settings, which are not set up here."),
            )
        params: dict[str, Any] = {}
        stream = False
        for name, value in given.items():
            if name == "stream":
                stream = bool(value)
            elif name == "stop" and isinstance(value, str):
                params["stop"] = parse_stop(value)
            elif name == "logit_bias" and isinstance(value, str):
                ids, words = parse_logit_bias(value)
                params["logit_bias"], params["logit_bias_words"] = ids or None, words or None
            else:
                params[name] = value
        return params, dict.fromkeys(params, "option"), [], "preserve", stream, None

    async def prepare_regenerate(
        self, generation_id: int, requester: Requester
    ) -> PreparedGeneration | None:
        """The same request again (a new sample); None when the generation is gone."""
        stored = await self._stored(generation_id)
        if stored is None:
            return None
        request, display = stored.request, stored.display
        notes: list[str | Msg] = []
        if request.seed is not None:
            notes.append(
                _("seed {seed} is fixed, so the same text may come back.", seed=request.seed)
            )
        return PreparedGeneration(
            request=request,
            requester=replace(requester, private=stored.record.private),
            sources=dict(display.sources),
            clamped=list(display.clamped),
            clean_mode=display.clean_mode,
            stream=display.stream,
            preset=display.preset,
            display=display.shown,
            notes=notes,
        )

    async def prepare_continue(
        self, generation_id: int, choice_index: int, requester: Requester
    ) -> PreparedGeneration | None:
        """Generate more after one candidate; None when the generation is gone."""
        stored = await self._stored(generation_id)
        if stored is None:
            return None
        request, display = stored.request, stored.display
        choice = next((c for c in stored.result.choices if c.index == choice_index), None)
        if choice is None:
            return None
        generated = _strip_echo(choice.text, request)
        # Continue is one text: one candidate, no ranking, no echo of the
        # longer prompt (the original prompt stays shown when echo was on).
        follow = request.model_copy(
            update={
                "prompt": request.prompt + generated,
                "echo": False,
                "n": 1,
                "best_of": None,
                "stream": False,
            }
        )
        return PreparedGeneration(
            request=CompletionRequest.model_validate(follow.model_dump()),
            requester=replace(requester, private=stored.record.private),
            sources=dict(display.sources),
            clean_mode=display.clean_mode,
            stream=display.stream,
            preset=display.preset,
            display=Display(
                echo_prompt=display.echo_prompt,
                prefix=display.prefix + generated,
                continued_from=generation_id,
            ),
        )

    # -- running -------------------------------------------------------------

    async def admit(self, prepared: PreparedGeneration) -> None:
        """What must pass before any backend request: moderation of the member's text.

        Raises ModerationRefused when it is withheld; a note when a provider was
        down and the server lets text through. Usage limits come after this
        (metering, around the backend call).
        """
        if self.moderation is None:
            return
        request = prepared.request
        notes = await self.moderation.check_input(
            prepared.requester.subject, [request.prompt, request.suffix or ""]
        )
        prepared.notes = [*prepared.notes, *notes]  # sentences, shown in the reader's language

    async def run(
        self, prepared: PreparedGeneration, waiting: Waiting | None = None
    ) -> GenerationOutcome:
        """Admit, call the backend (not streamed, metered) and store the outcome.

        `waiting`: how long the request may wait for its turn and who hears its place.
        """
        await self.admit(prepared)
        request = prepared.request
        if request.stream:
            request = request.model_copy(update={"stream": False})
        async with self.metering.call(
            prepared.requester, request, command="complete", waiting=waiting
        ) as meter:
            started = time.monotonic()
            result = await self.completions.complete(request, affinity=prepared.affinity)
            report(meter, result.usage, result.model)
        elapsed = time.monotonic() - started
        return await self._finish(prepared, result, elapsed, streamed=False)

    def stream(
        self, prepared: PreparedGeneration, waiting: Waiting | None = None
    ) -> GenerationStream:
        """Stream the completion: iterate for cleaned text so far, then read `.outcome`."""
        return GenerationStream(self, prepared, waiting)

    async def generate(
        self,
        requester: Requester,
        prompt: str,
        options: Mapping[str, Any] | None = None,
        preset: str | None = None,
    ) -> GenerationOutcome:
        """prepare + run, not streamed."""
        return await self.run(await self.prepare(requester, prompt, options, preset))

    async def load(self, generation_id: int) -> GenerationOutcome | None:
        """A stored generation as an outcome (for paging and the token view)."""
        stored = await self._stored(generation_id)
        if stored is None:
            return None
        record, request, result, display = (
            stored.record,
            stored.request,
            stored.result,
            stored.display,
        )
        return GenerationOutcome(
            generation_id=record.id,
            request=request,
            result=result,
            candidates=_candidates(result, request, display.shown, display.clean_mode),
            requester=Requester(record.user_id, record.guild_id, record.channel_id, record.private),
            display=display.shown,
            clean_mode=display.clean_mode,
            sources=dict(display.sources),
            clamped=list(display.clamped),
            notes=list(display.notes),
            elapsed=display.elapsed if display.elapsed is not None else result.elapsed,
            streamed=display.streamed,
        )

    async def _stored(self, generation_id: int) -> StoredGeneration | None:
        """The stored generation with this id, typed; None when there is none (or no store)."""
        if self.store is None:
            return None
        record = await self.store.get(generation_id)
        if record is None:
            return None
        return StoredGeneration(
            record=record,
            request=CompletionRequest.model_validate(record.request),
            display=StoredDisplay.model_validate(record.display),
        )

    async def _finish(
        self,
        prepared: PreparedGeneration,
        result: CompletionResult,
        elapsed: float,
        *,
        streamed: bool,
    ) -> GenerationOutcome:
        result, notes = await self._moderate(prepared, result)
        prepared = replace(prepared, notes=notes)
        outcome = GenerationOutcome(
            generation_id=None,
            request=prepared.request,
            result=result,
            candidates=_candidates(result, prepared.request, prepared.display, prepared.clean_mode),
            requester=prepared.requester,
            display=prepared.display,
            clean_mode=prepared.clean_mode,
            sources=prepared.sources,
            clamped=prepared.clamped,
            notes=prepared.notes,
            elapsed=elapsed,
            streamed=streamed,
        )
        if self.store is not None:
            outcome.generation_id = await self._save(prepared, result, elapsed, streamed)
        return outcome

    async def _moderate(
        self, prepared: PreparedGeneration, result: CompletionResult
    ) -> tuple[CompletionResult, list[str | Msg]]:
        """Every candidate checked before it is shown: withheld ones are dropped (and not
        stored, so no button can show them); ModerationRefused when none is left."""
        if self.moderation is None:
            return result, prepared.notes
        shown = _candidates(result, prepared.request, prepared.display, prepared.clean_mode)
        check = await self.moderation.check_output(
            prepared.requester.subject,
            [candidate.text for candidate in shown],
            prompt=prepared.request.prompt,
        )
        if not check.kept:
            raise check.refusal()
        # Kept as sentences: the footer shows them in the reader's language, now and later.
        notes = [*prepared.notes, *check.footer_notes()]
        if check.kept == [c.index for c in result.choices]:
            return result, notes  # every candidate kept, already in order and numbered
        choices = sorted(result.choices, key=lambda c: c.index)
        kept = [choices[i].model_copy(update={"index": new}) for new, i in enumerate(check.kept)]
        return result.model_copy(update={"choices": kept}), notes

    async def _save(
        self, prepared: PreparedGeneration, result: CompletionResult, elapsed: float, streamed: bool
    ) -> int:
        from bot.storage.generations import GenerationRecord

        assert self.store is not None
        requester = prepared.requester
        record = GenerationRecord(
            user_id=requester.user_id,
            guild_id=requester.guild_id,
            channel_id=requester.channel_id,
            private=requester.private,
            request=prepared.request.model_dump(mode="json", exclude_none=True),
            result=result.model_dump(mode="json"),
            display=StoredDisplay(
                echo_prompt=prepared.display.echo_prompt,
                prefix=prepared.display.prefix,
                continued_from=prepared.display.continued_from,
                clean_mode=prepared.clean_mode,
                sources=prepared.sources,
                clamped=prepared.clamped,
                notes=prepared.notes,
                preset=prepared.preset,
                stream=prepared.stream,
                streamed=streamed,
                elapsed=elapsed,
            ).model_dump(mode="json"),
            job_id=prepared.job_id,
        )
        return await self.store.add(record)


class GenerationStream:
    """`async for text in stream` gives the cleaned text so far; then `.outcome`."""

    def __init__(
        self,
        service: GenerationService,
        prepared: PreparedGeneration,
        waiting: Waiting | None = None,
    ) -> None:
        self.service = service
        self.prepared = prepared
        self.waiting = waiting
        self.outcome: GenerationOutcome | None = None

    async def __aiter__(self) -> AsyncIterator[str]:
        prepared = self.prepared
        await self.service.admit(prepared)
        request = prepared.request.model_copy(update={"stream": True})
        moderation = self.service.moderation
        # Only text moderation has checked is shown (see StreamGuard).
        guard = moderation.stream_guard(prepared.requester.subject) if moderation else None
        raw = ""
        shown_last = ""
        metering = self.service.metering
        async with metering.call(
            prepared.requester, request, command="complete", waiting=self.waiting
        ) as meter:
            started = time.monotonic()
            deltas = self.service.completions.stream(request, affinity=prepared.affinity)
            async for delta in deltas:
                raw += delta
                generated = _strip_echo(raw, request) if request.echo else raw
                text = clean_text(prepared.display.prefix + generated, prepared.clean_mode)
                if guard is not None:
                    text = await guard.visible(text)
                    if text == shown_last:
                        continue
                    shown_last = text
                yield text
            elapsed = time.monotonic() - started
            usage = deltas.usage
            if usage is None:
                # llama-cpp-python reports no usage while streaming: count it (still
                # within this turn, so the count never interrupts another stream).
                usage = await metering.count_stream(request, raw)
            report(meter, usage, deltas.model or request.model or "", counted=deltas.usage is None)
        # Once done, the client's stream knows how it ended (when the backend said so).
        result = CompletionResult(
            id="stream",
            created=int(time.time()),
            model=deltas.model or request.model or "",
            choices=[Choice(index=0, text=raw, finish_reason=deltas.finish_reason)],
            usage=usage,
            warnings=list(deltas.warnings),
            elapsed=elapsed,
        )
        self.outcome = await self.service._finish(prepared, result, elapsed, streamed=True)


def _strip_echo(text: str, request: CompletionRequest) -> str:
    """The generated part of a choice (echo puts the prompt in front of it)."""
    if request.echo and text.startswith(request.prompt):
        return text[len(request.prompt) :]
    return text


def _candidates(
    result: CompletionResult, request: CompletionRequest, display: Display, clean_mode: CleanMode
) -> list[Candidate]:
    return [
        Candidate(
            index=choice.index,
            text=clean_text(display.prefix + _strip_echo(choice.text, request), clean_mode),
            finish_reason=choice.finish_reason,
            rank=choice.rank,
            mean_logprob=choice.mean_logprob,
            logprobs=choice.logprobs,
        )
        for choice in sorted(result.choices, key=lambda c: c.index)
    ]
