"""Backend profiles: for each server, which parameters are native, emulated
or refused, and how to shape the request body.

Sources: shared/reference/completions-api.md §3 and the matrix in §6.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from bot.completions.parameters import PARAMETERS
from bot.completions.request import CompletionRequest
from bot.completions.samplers import (
    LLAMA_CPP_PYTHON_NEUTRAL,
    LLAMACPP_NEUTRAL,
    VLLM_NEUTRAL,
    SamplingMode,
    sampling_note,
)
from bot.errors import ParameterError, UnsupportedParameter
from bot.i18n import Msg, _

log = logging.getLogger(__name__)

# The API's defaults (the parameter table's), sent explicitly so that server
# defaults (llama.cpp's 0.8/0.95 and unlimited max_tokens) never change behaviour.
DEFAULT_TEMPERATURE = float(PARAMETERS["temperature"].api_default)
DEFAULT_TOP_P = float(PARAMETERS["top_p"].api_default)
DEFAULT_MAX_TOKENS = int(PARAMETERS["max_tokens"].api_default)

Tokenizer = Literal["vllm", "llamacpp", "llama-cpp-python"]


class Support(StrEnum):
    NATIVE = "native"  # sent to the server, which honours it
    EMULATED = "emulated"  # done by the client, not sent
    REFUSED = "refused"  # neither: the request is refused with a reason
    UNUSED = "unused"  # metadata with no effect on output (user) that this server has no use for


@dataclass(frozen=True)
class BackendProfile:
    """What one kind of server does with each Completions parameter."""

    name: str
    support: dict[str, Support]
    reasons: dict[str, Msg] = field(default_factory=dict)
    max_logprobs: int = 5
    tokenizer: Tokenizer | None = None
    logprobs_chat_style: bool = False  # llama.cpp answers in the chat format
    omit_top_p_one: bool = False  # TGI: top_p must be < 1
    # Ask for usage in the last stream event (stream_options.include_usage).
    stream_usage: bool = False
    # Why max_tokens 0 cannot be honoured there (None: it can).
    zero_max_tokens_reason: Msg | None = None
    # llama.cpp's sampler chain (llama-cpp-python's too) cuts top_p at
    # temperature 1 and applies the temperature last; OpenAI, vLLM, TGI and
    # Ollama's own engine scale by temperature first.
    top_p_before_temperature: bool = False
    # Samplers beyond the API's (see samplers.py): the values that switch them
    # off, sent unless the server's `sampling` setting is `server`; what the
    # backend adds by default (None: nothing); what stays on regardless.
    neutral_samplers: Mapping[str, Any] = field(default_factory=dict)
    own_samplers: Msg | None = None
    stuck_samplers: Msg | None = None

    def supports(self, param: str) -> Support:
        return self.support.get(param, Support.NATIVE)

    def check(self, req: CompletionRequest) -> None:
        """Refuse, before any HTTP request, what this backend cannot honour."""
        given = {
            "suffix": req.suffix is not None,
            "n": req.n > 1,
            "best_of": req.wants_best_of,
            "echo": req.echo,
            "logprobs": req.logprobs is not None,
            "logit_bias": bool(req.logit_bias or req.logit_bias_words),
            "presence_penalty": bool(req.presence_penalty),
            "frequency_penalty": bool(req.frequency_penalty),
            "stop": bool(req.stop),
            "seed": req.seed is not None,
        }
        for param, is_given in given.items():
            if is_given and self.supports(param) is Support.REFUSED:
                raise UnsupportedParameter(param, self.name, self.reasons[param])
        if req.logprobs is not None and req.logprobs > self.max_logprobs:
            allowed = _("a whole number from {low} to {high}", low=0, high=self.max_logprobs)
            raise ParameterError(
                "logprobs",
                req.logprobs,
                allowed,
                _(
                    "logprobs {value} is out of range on {backend}: use {allowed}.",
                    value=req.logprobs,
                    backend=self.name,
                    allowed=allowed,
                ),
            )
        if req.logit_bias_words and self.tokenizer is None:
            raise UnsupportedParameter("logit_bias", self.name, self.reasons["logit_bias_words"])
        if req.max_tokens == 0 and self.zero_max_tokens_reason:
            raise ParameterError(
                "max_tokens",
                0,
                _("a whole number of 1 or more"),
                _(
                    "max_tokens 0 is not available on {backend}: {reason}",
                    backend=self.name,
                    reason=self.zero_max_tokens_reason,
                ),
            )
        if self.omit_top_p_one and req.top_p == 0:
            raise ParameterError(
                "top_p",
                0,
                _("a number above 0 and up to 1"),
                _(
                    "top_p 0 is not available on {backend}: use a number above 0 and up to 1.",
                    backend=self.name,
                ),
            )

    def payload(self, req: CompletionRequest, model: str | None) -> dict[str, Any]:
        """The body for ONE request, before n/best_of/echo emulation decides counts."""
        body: dict[str, Any] = {"prompt": req.prompt}
        if model:
            body["model"] = model
        body["max_tokens"] = req.max_tokens if req.max_tokens is not None else DEFAULT_MAX_TOKENS
        body["temperature"] = (
            req.temperature if req.temperature is not None else DEFAULT_TEMPERATURE
        )
        top_p = req.top_p if req.top_p is not None else DEFAULT_TOP_P
        if not (self.omit_top_p_one and top_p >= 1):
            body["top_p"] = top_p
        native = {
            p
            for p in ("suffix", "echo", "logprobs", "stop", "seed")
            if self.supports(p) is Support.NATIVE
        }
        if req.suffix is not None and "suffix" in native:
            body["suffix"] = req.suffix
        if req.echo and "echo" in native:
            body["echo"] = True
        if req.logprobs is not None and "logprobs" in native:
            body["logprobs"] = req.logprobs
        if req.stop and "stop" in native:
            body["stop"] = list(req.stop)
        for name in ("presence_penalty", "frequency_penalty"):
            value = getattr(req, name)
            if value is not None and self.supports(name) is Support.NATIVE:
                body[name] = value
        if req.seed is not None and "seed" in native:
            body["seed"] = req.seed
        if req.user is not None and self.supports("user") is Support.NATIVE:
            body["user"] = req.user
        if req.sampling == "api":
            for name, value in self.neutral_samplers.items():
                body.setdefault(name, value)  # a penalty the request gives stays
        return body

    def sampling_note(self, mode: SamplingMode) -> Msg | None:
        """The footer's sentence about this backend's own samplers in `mode`, if any."""
        return sampling_note(self.name, self.own_samplers, self.stuck_samplers, mode)


_NO_LOGPROBS = _("it returns no logprobs to rank candidates with.")
# Ollama's DefaultOptions, unless the model's Modelfile sets others.
_OLLAMA_SAMPLERS = _("top_k 40 and a repeat penalty, unless the model sets others")

PROFILES: dict[str, BackendProfile] = {
    "openai": BackendProfile(
        name="openai",
        support={"user": Support.NATIVE},
        stream_usage=True,
        reasons={
            "logit_bias_words": _(
                "words need OpenAI's cl100k_base tokenizer (tiktoken), which "
                'is not available offline; give token ids instead, such as {"50256": -100}.'
            ),
        },
        max_logprobs=5,
    ),
    "vllm": BackendProfile(
        name="vllm",
        support={
            "suffix": Support.REFUSED,
            "best_of": Support.EMULATED,  # removed from vLLM and silently ignored
            "user": Support.UNUSED,
        },
        reasons={
            "suffix": _(
                "vLLM answers suffix with an error (no fill-in-the-middle on /v1/completions)."
            )
        },
        max_logprobs=20,
        tokenizer="vllm",
        stream_usage=True,
        neutral_samplers=VLLM_NEUTRAL,
        own_samplers=_(
            "whatever the model's generation_config sets, such as top_k or repetition_penalty"
        ),
    ),
    "llamacpp": BackendProfile(
        name="llamacpp",
        support={
            "suffix": Support.REFUSED,
            "n": Support.EMULATED,  # old builds refuse n > 1; new ones cap it at the slot count
            "best_of": Support.EMULATED,  # rejected if present at all
            "echo": Support.EMULATED,  # "Only no echo is supported"
            "user": Support.UNUSED,
        },
        reasons={
            "suffix": _(
                "llama.cpp's server refuses suffix on /v1/completions "
                "(fill-in-the-middle is its separate /infill endpoint)."
            )
        },
        max_logprobs=20,
        tokenizer="llamacpp",
        logprobs_chat_style=True,
        top_p_before_temperature=True,
        neutral_samplers=LLAMACPP_NEUTRAL,
        own_samplers=_("top_k 40 and min_p 0.05 unless it was started with others"),
    ),
    "llama-cpp-python": BackendProfile(
        name="llama-cpp-python",
        support={
            "suffix": Support.REFUSED,
            "n": Support.EMULATED,  # silently ignored by the server
            "best_of": Support.EMULATED,  # silently ignored by the server
            "user": Support.UNUSED,
        },
        reasons={
            "suffix": _(
                "its fill-in-the-middle token ids are hard-coded to 0, so the text after "
                "the gap would be ignored or garbled."
            ),
        },
        # The server has no limit, but each extra alternative costs time over
        # Gemma's 262k-token vocabulary; keep OpenAI's limit.
        max_logprobs=5,
        tokenizer="llama-cpp-python",
        zero_max_tokens_reason=_("it treats 0 as no limit; use 1 or more."),
        top_p_before_temperature=True,
        neutral_samplers=LLAMA_CPP_PYTHON_NEUTRAL,
        own_samplers=_("top_k 40, min_p 0.05 and repeat_penalty 1.1"),
    ),
    "ollama": BackendProfile(
        name="ollama",
        support={
            "n": Support.EMULATED,
            "best_of": Support.REFUSED,
            "echo": Support.EMULATED,
            "logprobs": Support.REFUSED,
            "logit_bias": Support.REFUSED,
            "user": Support.UNUSED,
        },
        reasons={
            "best_of": _NO_LOGPROBS,
            "logprobs": _("Ollama's /v1/completions returns no logprobs."),
            "logit_bias": _("Ollama ignores logit_bias on /v1/completions."),
            "logit_bias_words": _("Ollama ignores logit_bias on /v1/completions."),
        },
        max_logprobs=0,
        stream_usage=True,
        own_samplers=_OLLAMA_SAMPLERS,
        stuck_samplers=_OLLAMA_SAMPLERS,
    ),
    "tgi": BackendProfile(
        name="tgi",
        support={
            "suffix": Support.REFUSED,
            "n": Support.EMULATED,
            "best_of": Support.REFUSED,
            "echo": Support.EMULATED,
            "logprobs": Support.REFUSED,
            "logit_bias": Support.REFUSED,
            "presence_penalty": Support.REFUSED,
            "user": Support.UNUSED,
        },
        reasons={
            "suffix": _("TGI refuses suffix with an error."),
            "best_of": _NO_LOGPROBS,
            "logprobs": _("TGI's /v1/completions returns no logprobs."),
            "logit_bias": _("TGI ignores logit_bias."),
            "logit_bias_words": _("TGI ignores logit_bias."),
            "presence_penalty": _("TGI ignores presence_penalty; use frequency_penalty instead."),
        },
        max_logprobs=0,
        omit_top_p_one=True,
        zero_max_tokens_reason=_("TGI answers 0 with an error; use 1 or more."),
    ),
    # Used when auto-detection cannot tell what the server is: emulate what
    # every server can be made to do, refuse what cannot be checked.
    "generic": BackendProfile(
        name="an undetected backend",
        support={
            "suffix": Support.REFUSED,
            "n": Support.EMULATED,
            "best_of": Support.EMULATED,
            "echo": Support.EMULATED,
            "user": Support.UNUSED,
        },
        reasons={
            "suffix": _("set COMPLETIONS_BACKEND so Couplet knows whether the server honours it."),
            "logit_bias_words": _(
                "Couplet does not know this server's tokenizer; set "
                "COMPLETIONS_BACKEND or give token ids."
            ),
        },
        max_logprobs=5,
        own_samplers=_("any it adds by default"),
    ),
}


def profile_for(name: str) -> BackendProfile:
    """The profile named `name` (one of COMPLETIONS_BACKEND's values, not auto)."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}: use one of {', '.join(PROFILES)}") from None


def detect_from_models(base_url: str, models_body: Any) -> str | None:
    """Guess the backend kind from the base URL and a /v1/models body; None if unsure."""
    if "api.openai.com" in base_url:
        return "openai"
    data = models_body.get("data") if isinstance(models_body, dict) else None
    owners = {str(m.get("owned_by", "")).lower() for m in data or [] if isinstance(m, dict)}
    if "vllm" in owners:
        return "vllm"
    if "llamacpp" in owners:
        return "llamacpp"
    # llama-cpp-python's server lists its models as owned by "me".
    if "me" in owners:
        return "llama-cpp-python"
    if owners & {"library", "ollama"}:
        return "ollama"
    if owners & {"openai", "system", "openai-internal"}:
        return "openai"
    return None
