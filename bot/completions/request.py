"""The request model: every parameter of `POST /v1/completions`, validated.

`CompletionRequest.build(**kwargs)` is the constructor for user input: a bad
value raises `ParameterError` whose text is one sentence a chat user
understands, naming the parameter, the value and what is allowed.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.completions.parameters import (
    BIAS_HIGH,
    BIAS_LOW,
    MAX_BEST_OF,
    MAX_STOPS,
    NUMERIC_PARAMS,
    PARAMETERS,
)
from bot.completions.samplers import DEFAULT_SAMPLING, SamplingMode
from bot.errors import ParameterError
from bot.errors import show_value as _show
from bot.i18n import Localized, _


def _number(param: str, value: object, *, whole: bool, allowed: str | Localized) -> int | float:
    """`value` as an int (whole) or a finite float, or a ParameterError saying it is not one.

    Ranges are not checked here: the fields' constraints hold them.
    """

    def not_a_number() -> ParameterError:  # made only when needed: this runs on every request
        values = {"param": param, "value": _show(value), "allowed": allowed}
        return ParameterError(
            param,
            value,
            allowed,
            _("{param} {value} is not a whole number: use {allowed}.", **values)
            if whole
            else _("{param} {value} is not a number: use {allowed}.", **values),
        )

    number: int | float
    if isinstance(value, bool):
        raise not_a_number()
    if isinstance(value, int | float):
        number = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            # int() first: float() would round large seeds.
            number = int(text) if whole and text.lstrip("+-").isdigit() else float(text)
        except ValueError:
            raise not_a_number() from None
    else:
        raise not_a_number()
    if math.isnan(number) or math.isinf(number):
        raise not_a_number()
    if whole:
        if number != int(number):
            raise not_a_number()
        number = int(number)
    return number


def _limits(name: str) -> Any:
    """The table's range for `name` as a pydantic constraint."""
    spec = PARAMETERS[name]
    return Field(ge=spec.low, le=spec.high)


def validate_bias_map(param: str, value: object, *, ids: bool) -> dict[str, int] | None:
    """Validate a logit_bias mapping (token ids, or words when `ids` is false)."""
    if value is None:
        return None
    example = '{"50256": -100}' if ids else "{'hello': -100}"
    if not isinstance(value, dict):
        raise ParameterError(
            param,
            value,
            _("an object of token ids and biases such as {example}", example=example),
            _(
                "{param} {value} is not a mapping: use an object such as {example}.",
                param=param,
                value=_show(value),
                example=example,
            ),
        )
    result: dict[str, int] = {}
    for key, bias in value.items():
        key_text = str(key).strip() if ids else str(key)
        if ids and not key_text.isdecimal():
            raise ParameterError(
                "logit_bias",
                key,
                _("whole-number token ids such as 50256, or word=bias pairs"),
                _(
                    "logit_bias key {key} is not a token id: use whole-number token ids "
                    'such as {"50256": -100}, or word=bias pairs such as hello=-100.',
                    key=_show(key),
                ),
            )
        if not ids and not key_text.strip():
            raise ParameterError(
                "logit_bias",
                key,
                _("a non-empty word"),
                _("logit_bias has an empty word: use word=bias pairs such as hello=-100."),
            )
        allowed = _("a whole number from {low} to {high}", low=BIAS_LOW, high=BIAS_HIGH)
        refused = ParameterError(
            "logit_bias",
            bias,
            allowed,
            _(
                "logit_bias value {value} for token {token} is not allowed: use {allowed}.",
                value=_show(bias),
                token=key_text,
                allowed=allowed,
            )
            if ids
            else _(
                "logit_bias value {value} for {word} is not allowed: use {allowed}.",
                value=_show(bias),
                word=repr(key_text),
                allowed=allowed,
            ),
        )
        try:
            number = _number("logit_bias", bias, whole=True, allowed=allowed)
        except ParameterError:
            raise refused from None
        # Checked here, not by a field constraint: parse_logit_bias uses this
        # outside the model, and the sentence names the token.
        if not BIAS_LOW <= number <= BIAS_HIGH:
            raise refused
        result[str(int(key_text)) if ids else key_text] = int(number)
    return result or None


class CompletionRequest(BaseModel):
    """One call to `/v1/completions`; `None` means "not given" (the API default applies)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = None
    prompt: str
    suffix: str | None = None
    max_tokens: Annotated[int, _limits("max_tokens")] | None = None
    temperature: Annotated[float, _limits("temperature")] | None = None
    top_p: Annotated[float, _limits("top_p")] | None = None
    n: Annotated[int, _limits("n")] = 1
    stream: bool = False
    logprobs: Annotated[int, _limits("logprobs")] | None = None
    echo: bool = False
    stop: (
        Annotated[list[Annotated[str, Field(min_length=1)]], Field(max_length=MAX_STOPS)] | None
    ) = None
    presence_penalty: Annotated[float, _limits("presence_penalty")] | None = None
    frequency_penalty: Annotated[float, _limits("frequency_penalty")] | None = None
    best_of: Annotated[int, _limits("best_of")] | None = None
    logit_bias: dict[str, int] | None = None
    # Words whose tokens (per the backend's tokenizer) get a bias; the client
    # tokenizes them and merges the ids into `logit_bias`.
    logit_bias_words: dict[str, int] | None = None
    seed: Annotated[int, _limits("seed")] | None = None
    user: str | None = None
    # Not sent: whether the backend's own samplers are switched off ("api",
    # the server setting's default) or left on ("server"); see samplers.py.
    sampling: SamplingMode = DEFAULT_SAMPLING

    @field_validator(*NUMERIC_PARAMS, mode="before")
    @classmethod
    def _check_number(cls, value: object, info: Any) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            if info.field_name == "n":
                return 1
            return None
        spec = PARAMETERS[info.field_name]
        return _number(spec.name, value, whole=spec.kind == "whole", allowed=spec.allowed)

    @field_validator("prompt", mode="before")
    @classmethod
    def _check_prompt(cls, value: object) -> object:
        if not isinstance(value, str):
            raise ParameterError(
                "prompt",
                value,
                _("text"),
                _("prompt {value} is not text: give the prompt as text.", value=_show(value)),
            )
        return value

    @field_validator("model", "suffix", "user", mode="before")
    @classmethod
    def _check_text(cls, value: object, info: Any) -> object:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ParameterError(
                info.field_name,
                value,
                _("text"),
                _(
                    "{param} {value} is not text: give text.",
                    param=info.field_name,
                    value=_show(value),
                ),
            )
        if info.field_name == "model":
            return value.strip() or None
        return value

    @field_validator("stream", "echo", mode="before")
    @classmethod
    def _check_flag(cls, value: object, info: Any) -> object:
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
            return False
        raise ParameterError(
            info.field_name,
            value,
            _("true or false"),
            _(
                "{param} {value} is not true or false: use true or false.",
                param=info.field_name,
                value=_show(value),
            ),
        )

    @field_validator("stop", mode="before")
    @classmethod
    def _check_stop(cls, value: object) -> object:
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
            raise ParameterError(
                "stop",
                value,
                _("1 to {count} text sequences", count=MAX_STOPS),
                _("stop must be text: use 1 to {count} sequences.", count=MAX_STOPS),
            )
        return list(value) or None

    @field_validator("logit_bias", mode="before")
    @classmethod
    def _check_bias(cls, value: object) -> object:
        return validate_bias_map("logit_bias", value, ids=True)

    @field_validator("logit_bias_words", mode="before")
    @classmethod
    def _check_bias_words(cls, value: object) -> object:
        return validate_bias_map("logit_bias", value, ids=False)

    @model_validator(mode="after")
    def _check_together(self) -> CompletionRequest:
        if self.best_of is not None and self.best_of < self.n:
            raise ParameterError(
                "best_of",
                self.best_of,
                _("a whole number from n ({n}) to {high}", n=self.n, high=MAX_BEST_OF),
                _(
                    "best_of {best_of} is less than n {n}: use a best_of from {n} "
                    "to {high}, or leave it out.",
                    best_of=self.best_of,
                    n=self.n,
                    high=MAX_BEST_OF,
                ),
            )
        if self.stream and self.best_of is not None and self.best_of > 1:
            raise best_of_with_stream(self.best_of)
        return self

    @classmethod
    def build(cls, **kwargs: Any) -> CompletionRequest:
        """Construct from user input; a bad value raises `ParameterError`."""
        try:
            return cls(**kwargs)
        except ValidationError as err:
            raise _as_parameter_error(err) from None

    @property
    def wants_best_of(self) -> bool:
        """True when more candidates than returned choices must be generated."""
        return self.best_of is not None and self.best_of > self.n


def best_of_with_stream(best_of: int | None) -> ParameterError:
    """best_of ranks complete candidates, so it cannot be streamed."""
    return ParameterError(
        "best_of",
        best_of,
        _("best_of 1 when streaming"),
        _(
            "best_of cannot be used with stream: the candidates are compared only once "
            "they are complete."
        ),
    )


def _as_parameter_error(err: ValidationError) -> ParameterError:
    """Turn pydantic's first error into our one-sentence ParameterError."""
    first = err.errors()[0]
    original = (first.get("ctx") or {}).get("error")
    if isinstance(original, ParameterError):
        return original
    loc = first.get("loc") or ("request",)
    param = str(loc[0]) if loc else "request"
    kind = first.get("type")
    value = first.get("input")
    if kind in ("greater_than_equal", "less_than_equal") and param in PARAMETERS:
        return out_of_range(param, value, PARAMETERS[param].allowed)
    if param == "stop" and kind == "too_long":
        count = len(value) if isinstance(value, list) else MAX_STOPS + 1
        return too_many_stops(value, count)
    if param == "stop" and kind == "string_too_short":
        return ParameterError(
            "stop",
            value,
            _("non-empty sequences"),
            _("stop has an empty sequence: every stop sequence needs at least one character."),
        )
    if kind == "missing":
        return ParameterError(
            param,
            None,
            _("a value"),
            _("{param} is missing: give a value for {param}.", param=param),
        )
    if kind == "extra_forbidden":
        return not_a_parameter(param, first.get("input"))
    return ParameterError(
        param,
        first.get("input"),
        _("a valid value"),
        _(
            "{param} {value} is not valid: {reason}.",
            param=param,
            value=_show(first.get("input")),
            reason=first.get("msg"),
        ),
    )


def out_of_range(param: str, value: object, allowed: str | Localized) -> ParameterError:
    """`{param} {value} is out of range: use {allowed}.`"""
    return ParameterError(
        param,
        value,
        allowed,
        _(
            "{param} {value} is out of range: use {allowed}.",
            param=param,
            value=_show(value),
            allowed=allowed,
        ),
    )


def too_many_stops(value: object, count: int) -> ParameterError:
    """More stop sequences than the API takes."""
    return ParameterError(
        "stop",
        value,
        _("1 to {count} sequences", count=MAX_STOPS),
        _("stop has {count} sequences: use 1 to {high}.", count=count, high=MAX_STOPS),
    )


def not_a_parameter(param: str, value: object) -> ParameterError:
    """An option that is not one of the API's parameters."""
    return ParameterError(
        param,
        value,
        _("a Completions parameter"),
        _("{param} is not a Completions parameter.", param=param),
    )
