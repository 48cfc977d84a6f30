"""Parameters as people type them, for presets and server defaults.

Text from a setting value or a preset option (`"0.7"`, `"a|b"`, `"hello=-100"`)
becomes stored values, checked by the request model so that the ranges and
sentences are the parameter table's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bot.completions.logit_bias import parse_logit_bias
from bot.completions.parameters import NUMERIC_PARAMS, PRESET_PARAMS
from bot.completions.request import CompletionRequest
from bot.completions.stops import parse_stop
from bot.errors import ParameterError
from bot.i18n import _, join

# Parameters whose typed text is turned into a number before validation, so
# messages show 3.5 rather than '3.5'.
_NUMERIC_PARAMS = frozenset(NUMERIC_PARAMS)


def parse_param(name: str, raw: object) -> dict[str, Any]:
    """Parse one parameter typed by a person into stored values.

    Returns a dict because `logit_bias` yields two entries (token ids and
    words). Raises ParameterError with a one-sentence message.
    """
    if name not in PRESET_PARAMS:
        raise ParameterError(
            name,
            raw,
            join(PRESET_PARAMS),
            _(
                "{param} is not a parameter a preset or default can hold: use one of {names}.",
                param=name,
                names=join(PRESET_PARAMS),
            ),
        )
    if name == "stop" and isinstance(raw, str):
        return {"stop": parse_stop(raw)}
    if name == "logit_bias" and isinstance(raw, str):
        ids, words = parse_logit_bias(raw)
        return {"logit_bias": ids or None, "logit_bias_words": words or None}
    if name in _NUMERIC_PARAMS and isinstance(raw, str):
        raw = _as_number(raw)
    if name == "best_of":
        # Checked on its own, best_of must not trip over the default n of 1.
        request = CompletionRequest.build(prompt="", best_of=raw, n=1)
    else:
        request = CompletionRequest.build(prompt="", **{name: raw})
    return {name: getattr(request, name)}


def _as_number(text: str) -> object:
    """`text` as an int or a finite float when it reads as one; else unchanged."""
    stripped = text.strip()
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        number = float(stripped)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def parse_params(values: Mapping[str, object]) -> dict[str, Any]:
    """Parse several parameters and check them together (e.g. best_of ≥ n)."""
    parsed: dict[str, Any] = {}
    for name, raw in values.items():
        if raw is None:
            continue
        parsed.update(parse_param(name, raw))
    check_together(parsed)
    return parsed


def check_together(params: Mapping[str, Any]) -> None:
    """Raise ParameterError when parameters that are each valid clash."""
    CompletionRequest.build(prompt="", **{k: v for k, v in params.items() if v is not None})
