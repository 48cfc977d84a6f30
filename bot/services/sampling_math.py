"""What temperature and top_p do to the next token's probabilities.

Pure maths over the top logprobs a backend lists for one position (no I/O,
no Discord). The backend lists only the k likeliest tokens; the rest of the
probability mass ("other") belongs to tokens it did not name.

- Temperature T divides every logit by T: p_i ∝ exp(logprob_i / T), the
  softmax of logits / T (the log-softmax offset cancels out). T = 0 is argmax.
- The unlisted mass r cannot be reshaped token by token, because its tokens
  are unknown. Each of them is at most as likely as the least likely listed
  token (p_min), so it is reshaped as if spread over r / p_min tokens of
  probability p_min: weight r · p_min^(1/T − 1). At T = 1 that is r. Below 1
  it is the most the unlisted tokens can keep (so the likeliest token's share
  shown is the least it gets); above 1 it is the least they can gain.
- top_p keeps the smallest set of likeliest tokens whose probabilities add
  up to at least p (a token is kept when the tokens before it add up to less
  than p). Servers differ in order: OpenAI, vLLM, TGI and Ollama's own engine
  cut top_p on the distribution at temperature T; llama.cpp and
  llama-cpp-python cut it at temperature 1 and apply the temperature
  afterwards (their sampler chains: top_k, typical_p, top_p, min_p, temperature).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Below this the unlisted mass is rounding noise in the listed logprobs.
_NEGLIGIBLE = 1e-9


@dataclass(frozen=True)
class NextToken:
    """The backend's listed alternatives for one position, likeliest first."""

    tokens: tuple[str, ...]
    logprobs: tuple[float, ...]

    @classmethod
    def from_top_logprobs(
        cls, top: Mapping[str, float] | Sequence[tuple[str, float]], limit: int | None = None
    ) -> NextToken:
        """The `limit` likeliest entries of a top_logprobs mapping (or pairs).

        Some servers add the sampled token to the top list; keeping only the
        `limit` likeliest makes the list the same whichever token was sampled.
        Non-finite logprobs (probability 0) are dropped.
        """
        pairs = top.items() if isinstance(top, Mapping) else top
        finite = [(str(t), float(lp)) for t, lp in pairs if math.isfinite(float(lp))]
        finite.sort(key=lambda pair: pair[1], reverse=True)
        if limit is not None:
            finite = finite[: max(limit, 0)]
        if not finite:
            raise ValueError("no finite logprobs to chart")
        return cls(tuple(t for t, _ in finite), tuple(min(lp, 0.0) for _, lp in finite))

    @property
    def probabilities(self) -> list[float]:
        """Each listed token's probability at temperature 1."""
        return [math.exp(lp) for lp in self.logprobs]

    @property
    def other(self) -> float:
        """The mass the backend did not list (0 when the listed ones cover it all)."""
        rest = 1.0 - math.fsum(self.probabilities)
        return rest if rest > _NEGLIGIBLE else 0.0


@dataclass(frozen=True)
class Distribution:
    """Probabilities of the listed tokens and of "other"; they add up to 1."""

    listed: tuple[float, ...]
    other: float

    def top_share(self) -> float:
        return self.listed[0]


def at_temperature(next_token: NextToken, temperature: float) -> Distribution:
    """The distribution at `temperature` (see the module docstring for "other")."""
    if temperature < 0:
        raise ValueError("temperature must be 0 or more")
    other = next_token.other
    if temperature == 0:
        # Greedy decoding: the likeliest token always (the first of any tie, as servers do).
        return Distribution((1.0,) + (0.0,) * (len(next_token.tokens) - 1), 0.0)
    scale = 1.0 / temperature
    # Log-space weights, so tiny temperatures neither underflow nor overflow.
    logs = [lp * scale for lp in next_token.logprobs]
    if other > 0:
        least = next_token.logprobs[-1]
        logs.append(math.log(other) + (scale - 1.0) * least)
    peak = max(logs)
    weights = [math.exp(value - peak) for value in logs]
    total = math.fsum(weights)
    shares = [w / total for w in weights]
    if other > 0:
        return Distribution(tuple(shares[:-1]), shares[-1])
    return Distribution(tuple(shares), 0.0)


@dataclass(frozen=True)
class Nucleus:
    """What top_p keeps: the first `count` listed tokens, and maybe some unlisted ones."""

    count: int
    includes_other: bool

    def kept(self, index: int) -> bool:
        return index < self.count


def top_p_kept(distribution: Distribution, top_p: float) -> Nucleus:
    """The smallest set of likeliest tokens whose probabilities add up to `top_p`.

    A token is kept when the likelier ones add up to less than `top_p`; the
    likeliest is always kept (top_p 0 means greedy on every server). top_p 1
    keeps everything, unlisted tokens included.
    """
    if not 0 <= top_p <= 1:
        raise ValueError("top_p must be from 0 to 1")
    listed = distribution.listed
    if top_p >= 1:
        return Nucleus(len(listed), distribution.other > 0)
    before = 0.0
    count = 0
    for probability in listed:
        if count > 0 and before >= top_p:
            break
        count += 1
        before += probability
    includes_other = count == len(listed) and before < top_p and distribution.other > 0
    return Nucleus(count, includes_other)


@dataclass(frozen=True)
class SamplingPicture:
    """Everything the chart and its caption show for one position."""

    next_token: NextToken
    temperature: float
    top_p: float
    base: Distribution  # at temperature 1
    reshaped: Distribution  # at `temperature`
    nucleus: Nucleus
    # What a sample is drawn from: the kept tokens at `temperature`, renormalised.
    # "other" is an estimate like the reshaped one.
    sampling: Distribution
    top_p_before_temperature: bool

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.next_token.tokens


def picture(
    next_token: NextToken,
    temperature: float,
    top_p: float,
    *,
    top_p_before_temperature: bool = False,
) -> SamplingPicture:
    """The distributions at 1 and at `temperature`, the top_p set and the sampling odds."""
    base = at_temperature(next_token, 1.0)
    reshaped = at_temperature(next_token, temperature)
    nucleus = top_p_kept(base if top_p_before_temperature else reshaped, top_p)
    return SamplingPicture(
        next_token=next_token,
        temperature=temperature,
        top_p=top_p,
        base=base,
        reshaped=reshaped,
        nucleus=nucleus,
        sampling=renormalise(reshaped, nucleus),
        top_p_before_temperature=top_p_before_temperature,
    )


def renormalise(distribution: Distribution, nucleus: Nucleus) -> Distribution:
    """`distribution` limited to the kept set, scaled to add up to 1 again.

    When top_p reaches into the unlisted tokens only part of "other" is kept;
    which part is unknown, so all of it is counted (an upper bound).
    """
    kept = [p if nucleus.kept(i) else 0.0 for i, p in enumerate(distribution.listed)]
    other = distribution.other if nucleus.includes_other else 0.0
    total = math.fsum(kept) + other
    if total <= 0:
        # Only possible when every kept probability underflowed: greedy.
        return Distribution((1.0,) + (0.0,) * (len(kept) - 1), 0.0)
    return Distribution(tuple(p / total for p in kept), other / total)


def count_samples(tokens: Sequence[str], samples: Sequence[str]) -> tuple[list[int], int]:
    """How many `samples` came out as each listed token, and how many as an unlisted one."""
    index = {token: i for i, token in enumerate(tokens)}
    counts = [0] * len(tokens)
    other = 0
    for sample in samples:
        position = index.get(sample)
        if position is None:
            other += 1
        else:
            counts[position] += 1
    return counts, other
