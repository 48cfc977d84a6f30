"""Client-side work on choices: stop enforcement, echo, and best_of ranking.

(Reading the backends' varied answers is bot.completions.wire.)"""

from __future__ import annotations

from bot.completions.result import Choice, LogProbs
from bot.completions.stops import find_stop


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
