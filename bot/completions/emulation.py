"""Client-side work on choices: logprob and finish_reason normalisation,
stop enforcement, echo, and best_of ranking."""

from __future__ import annotations

import math
from typing import Any

from bot.completions.result import Choice, LogProbs
from bot.completions.stops import find_stop
from bot.errors import MalformedResponse

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
    if reason is None:
        return None
    return _FINISH_REASONS.get(str(reason), str(reason))


def _float_or_none(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def normalise_logprobs(raw: Any, *, start_offset: int = 0) -> LogProbs | None:
    """Legacy-shape logprobs from either the legacy shape or llama.cpp's chat style.

    `start_offset` is where the first generated token sits in prompt + completion
    (the API's convention for text_offset); used when the server gives none.
    """
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise MalformedResponse("The backend sent logprobs in a shape Couplet does not know.")
    if "content" in raw and "tokens" not in raw:
        return _from_chat_style(raw.get("content") or [], start_offset)
    tokens = [str(t) for t in raw.get("tokens") or []]
    token_logprobs = [_float_or_none(v) for v in raw.get("token_logprobs") or []]
    top: list[dict[str, float] | None] = []
    for entry in raw.get("top_logprobs") or []:
        if entry is None:
            top.append(None)
        elif isinstance(entry, dict):
            top.append({str(k): float(v) for k, v in entry.items()})
        else:  # a list of {token, logprob} objects
            top.append({str(e["token"]): float(e["logprob"]) for e in entry})
    offsets = [int(v) for v in raw.get("text_offset") or []]
    if len(offsets) != len(tokens):
        offsets = _running_offsets(tokens, start_offset)
    while len(token_logprobs) < len(tokens):
        token_logprobs.append(None)
    while len(top) < len(tokens):
        top.append(None)
    return LogProbs(
        tokens=tokens, token_logprobs=token_logprobs, top_logprobs=top, text_offset=offsets
    )


def _running_offsets(tokens: list[str], start: int) -> list[int]:
    offsets, position = [], start
    for token in tokens:
        offsets.append(position)
        position += len(token)
    return offsets


def _from_chat_style(content: list[dict[str, Any]], start_offset: int) -> LogProbs:
    """llama.cpp's `{"content": [{token, logprob, top_logprobs: [...]}, ...]}`."""
    tokens = [str(item.get("token", "")) for item in content]
    return LogProbs(
        tokens=tokens,
        token_logprobs=[_float_or_none(item.get("logprob")) for item in content],
        top_logprobs=[
            {
                str(alt.get("token", "")): float(alt["logprob"])
                for alt in item.get("top_logprobs") or []
            }
            for item in content
        ],
        text_offset=_running_offsets(tokens, start_offset),
    )


def parse_choice(raw: Any, *, start_offset: int) -> Choice:
    """One choice of a response body, normalised."""
    if not isinstance(raw, dict) or not isinstance(raw.get("text", ""), str):
        raise MalformedResponse("The backend sent a choice without text.")
    return Choice(
        index=int(raw.get("index") or 0),
        text=raw.get("text") or "",
        logprobs=normalise_logprobs(raw.get("logprobs"), start_offset=start_offset),
        finish_reason=normalise_finish_reason(raw.get("finish_reason")),
    )


def trim_logprobs(logprobs: LogProbs | None, text_before: str, keep_chars: int) -> LogProbs | None:
    """Keep the tokens that start before `keep_chars` of the generated text.

    The logprobs cover the end of the text; `text_before` is the choice text
    they are measured against.
    """
    if logprobs is None:
        return None
    covered = len("".join(logprobs.tokens))
    position = max(len(text_before) - covered, 0)
    keep = 0
    for token in logprobs.tokens:
        if position >= keep_chars:
            break
        keep += 1
        position += len(token)
    return LogProbs(
        tokens=logprobs.tokens[:keep],
        token_logprobs=logprobs.token_logprobs[:keep],
        top_logprobs=logprobs.top_logprobs[:keep],
        text_offset=logprobs.text_offset[:keep],
    )


def enforce_stops(choice: Choice, stops: list[str] | None, search_from: int = 0) -> Choice:
    """Cut the text at the earliest stop (after `search_from`), as a safety net."""
    cut = find_stop(choice.text, stops, search_from)
    if cut is None:
        return choice
    return choice.model_copy(
        update={
            "text": choice.text[:cut],
            "logprobs": trim_logprobs(choice.logprobs, choice.text, cut),
            "finish_reason": "stop",
        }
    )


def prepend_echo(choice: Choice, prompt: str) -> Choice:
    """Emulated echo: the prompt before the completion (prompt logprobs unavailable)."""
    return choice.model_copy(update={"text": prompt + choice.text})


def rank_best_of(candidates: list[Choice], n: int) -> tuple[list[Choice], list[Choice]]:
    """Rank candidates by mean generated-token logprob; return (top n, all ranked).

    Candidates without any logprob rank last.
    """
    scored = [
        c.model_copy(update={"mean_logprob": c.logprobs.mean() if c.logprobs else None})
        for c in candidates
    ]
    order = sorted(
        range(len(scored)),
        key=lambda i: (scored[i].mean_logprob is None, -(scored[i].mean_logprob or 0.0), i),
    )
    ranked = [scored[i].model_copy(update={"rank": place + 1}) for place, i in enumerate(order)]
    by_original = sorted(ranked, key=lambda c: c.index)
    chosen = [c.model_copy(update={"index": new}) for new, c in enumerate(ranked[:n])]
    return chosen, by_original
