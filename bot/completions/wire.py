"""The backends' JSON answers as pydantic models, tolerant of each server's variations.

Seen across OpenAI-compatible servers (README, Backends):
TGI's finish reasons (`eos_token`, `stop_sequence`), llama.cpp's chat-style
logprobs (`{"content": [{token, logprob, top_logprobs}]}`), top_logprobs as
lists of `{token, logprob}`, NaN logprobs, missing or partial `usage`, and
extra fields (vLLM's `stop_reason`, `system_fingerprint`, usage details),
which are ignored. Anything else that does not fit raises MalformedResponse.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bot.completions.result import Choice, LogProbs, Usage
from bot.errors import MalformedResponse
from bot.i18n import Msg, _

# TGI's finish reasons and a few other spellings, mapped to the API's values.
_FINISH_REASONS = {
    "stop": "stop",
    "eos_token": "stop",
    "stop_sequence": "stop",
    "eos": "stop",
    "length": "length",
    "max_tokens": "length",
    "content_filter": "content_filter",
}


def normalise_finish_reason(reason: object) -> str | None:
    """The API's finish_reason for any server's spelling (unknown ones pass through)."""
    if reason is None or reason == "":
        return None
    return _FINISH_REASONS.get(str(reason), str(reason))


def _scalar_text(value: Any) -> Any:
    """Ids and names some servers send as numbers, read as text."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _whole_seconds(value: Any) -> Any:
    return int(value) if isinstance(value, float) and math.isfinite(value) else value


def _none_is_zero(value: Any) -> Any:
    return 0 if value is None else value


Text = Annotated[str, BeforeValidator(_scalar_text)]
FinishReason = Annotated[str | None, BeforeValidator(normalise_finish_reason)]


class _Wire(BaseModel):
    """Read what is known; ignore the extra fields servers add."""

    model_config = ConfigDict(extra="ignore")


class WireUsage(_Wire):
    """`usage`, where any count may be missing or null."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None

    def to_usage(self) -> Usage:
        prompt = self.prompt_tokens or 0
        completion = self.completion_tokens or 0
        return Usage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=self.total_tokens or prompt + completion,
        )


class WireAlternative(_Wire):
    """One `{token, logprob}` entry of a list-style top_logprobs."""

    token: str = ""
    logprob: float


# One token's alternatives: {token: logprob}, or a list of {token, logprob}.
Alternatives = dict[str, float] | list[WireAlternative] | None


class WireTokenLogprob(_Wire):
    """One entry of llama.cpp's chat-style `logprobs.content`."""

    token: str = ""
    logprob: float | None = None
    top_logprobs: list[WireAlternative] | None = None


class WireLogprobs(_Wire):
    """Legacy parallel lists, or llama.cpp's chat-style `content` list."""

    tokens: list[Text] | None = None
    token_logprobs: list[float | None] = Field(default_factory=list)
    top_logprobs: list[Alternatives] = Field(default_factory=list)
    text_offset: list[int] = Field(default_factory=list)
    content: list[WireTokenLogprob] | None = None

    def normalised(self, start_offset: int = 0) -> LogProbs:
        """The legacy shape, one entry per token.

        `start_offset` is where the first generated token sits in prompt +
        completion (the API's convention for text_offset); used when the
        server gives no usable offsets.
        """
        if self.content is not None and self.tokens is None:
            return _from_chat_style(self.content, start_offset)
        tokens = list(self.tokens or [])
        token_logprobs = [_finite(v) for v in self.token_logprobs]
        top = [_alternatives(entry) for entry in self.top_logprobs]
        offsets = list(self.text_offset)
        if len(offsets) != len(tokens):
            offsets = _running_offsets(tokens, start_offset)
        token_logprobs += [None] * (len(tokens) - len(token_logprobs))
        top += [None] * (len(tokens) - len(top))
        return LogProbs(
            tokens=tokens, token_logprobs=token_logprobs, top_logprobs=top, text_offset=offsets
        )


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def _alternatives(
    entry: dict[str, float] | list[WireAlternative] | None,
) -> dict[str, float] | None:
    if entry is None or isinstance(entry, dict):
        return entry
    return {alt.token: alt.logprob for alt in entry}


def _running_offsets(tokens: list[str], start: int) -> list[int]:
    offsets, position = [], start
    for token in tokens:
        offsets.append(position)
        position += len(token)
    return offsets


def _from_chat_style(content: list[WireTokenLogprob], start_offset: int) -> LogProbs:
    tokens = [item.token for item in content]
    return LogProbs(
        tokens=tokens,
        token_logprobs=[_finite(item.logprob) for item in content],
        top_logprobs=[_alternatives(item.top_logprobs or []) for item in content],
        text_offset=_running_offsets(tokens, start_offset),
    )


class WireChoice(_Wire):
    """One choice of a response or a stream event."""

    index: Annotated[int, BeforeValidator(_none_is_zero)] = 0
    text: str = ""
    logprobs: WireLogprobs | None = None
    finish_reason: FinishReason = None

    def to_choice(self, *, start_offset: int) -> Choice:
        return Choice(
            index=self.index,
            text=self.text,
            logprobs=self.logprobs.normalised(start_offset) if self.logprobs else None,
            finish_reason=self.finish_reason,
        )


class CompletionResponse(_Wire):
    """A `text_completion` answer to one request."""

    id: Text | None = None
    created: Annotated[int | None, BeforeValidator(_whole_seconds)] = None
    model: Text | None = None
    choices: list[WireChoice]
    usage: WireUsage | None = None

    def to_usage(self) -> Usage:
        return self.usage.to_usage() if self.usage else Usage()


class StreamEvent(_Wire):
    """One event of a streamed completion (the last may carry only `usage`)."""

    choices: list[WireChoice] = Field(default_factory=list)
    usage: WireUsage | None = None


class ModelEntry(_Wire):
    id: Text


class ModelList(_Wire):
    """`GET /v1/models`."""

    data: list[ModelEntry]


class TokenPiece(_Wire):
    """llama.cpp's `with_pieces` token: `{id, piece}`."""

    id: int


class TokenizeResponse(_Wire):
    """The tokenize endpoints of llama.cpp, llama-cpp-python and vLLM: `{"tokens": [...]}`."""

    tokens: list[int | TokenPiece]

    def ids(self) -> list[int]:
        return [t.id if isinstance(t, TokenPiece) else t for t in self.tokens]


Model = TypeVar("Model", bound=BaseModel)


def read(model: type[Model], data: Any, what: str | Msg) -> Model:
    """`data` as `model`, or MalformedResponse naming `what` and the first field that is off."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or _("the answer")
        raise MalformedResponse(
            _(
                "The backend sent {what} Couplet cannot read ({where}: {detail}).",
                what=what,
                where=where,
                detail=first["msg"].lower(),
            )
        ) from err
