"""The result model, in the API's response shape plus what the bot needs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainSerializer, PlainValidator

from bot.i18n import Msg, from_data, render, to_data


def _sentence(value: Any) -> str | Msg:
    loaded = from_data(value)
    return loaded if isinstance(loaded, Msg) else str(loaded)


# A sentence for people, kept in JSON as its message id and values (bot.i18n.to_data),
# so that it is shown later in the reader's language; plain text loads as it is.
Sentence = Annotated[
    str | Msg, PlainValidator(_sentence), PlainSerializer(to_data, return_type=Any)
]


class LogProbs(BaseModel):
    """Legacy Completions logprobs: one entry per token, in parallel lists."""

    tokens: list[str] = Field(default_factory=list)
    token_logprobs: list[float | None] = Field(default_factory=list)
    top_logprobs: list[dict[str, float] | None] = Field(default_factory=list)
    text_offset: list[int] = Field(default_factory=list)

    def mean(self, start_offset: int = 0) -> float | None:
        """Mean logprob of the tokens at or after `start_offset` (skips None entries)."""
        values = [
            lp
            for lp, offset in zip(self.token_logprobs, self.text_offset, strict=False)
            if lp is not None and offset >= start_offset
        ]
        return sum(values) / len(values) if values else None


class Choice(BaseModel):
    """One completion."""

    index: int
    text: str
    logprobs: LogProbs | None = None
    finish_reason: str | None = None
    # Set when best_of ranked candidates: the score and the place (1 = best).
    mean_logprob: float | None = None
    rank: int | None = None


class Usage(BaseModel):
    """Token counts, summed over every request made for one result."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )


class CompletionResult(BaseModel):
    """A normalised `text_completion` response."""

    id: str
    object: str = "text_completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage = Field(default_factory=Usage)
    # Parameters the client emulated because the backend would ignore them.
    emulated: list[str] = Field(default_factory=list)
    # Sentences for the user, e.g. a logit_bias word that split into pieces.
    warnings: list[Sentence] = Field(default_factory=list)
    # Every candidate best_of generated, scored and ranked (empty otherwise).
    candidates: list[Choice] = Field(default_factory=list)
    elapsed: float = 0.0
    backend: str = ""

    def to_api_dict(self) -> dict[str, Any]:
        """The response object as JSON-ready data (what `couplet complete --json` prints)."""
        data = self.model_dump(mode="json")
        data["warnings"] = [render(warning) for warning in self.warnings]  # in English
        return data
