"""The maths behind /sampling: temperature reshaping, the unlisted mass, top_p's kept set."""

from __future__ import annotations

import math
import random

import pytest

from bot.services.sampling_math import (
    Distribution,
    NextToken,
    at_temperature,
    picture,
    renormalise,
    top_p_kept,
)

# Listed probabilities 0.5, 0.2, 0.1, 0.05 (0.85 in all): 0.15 is unlisted.
SAMPLE = NextToken.from_top_logprobs(
    {" Paris": math.log(0.5), " the": math.log(0.2), " a": math.log(0.1), " Lyon": math.log(0.05)}
)


def random_next_token(rng: random.Random) -> NextToken:
    """A random top list: 1–20 tokens whose probabilities add up to at most 1."""
    count = rng.randint(1, 20)
    raw = sorted((rng.random() for _ in range(count + 1)), reverse=True)
    total = sum(raw)
    listed = raw[:count] if rng.random() < 0.8 else raw  # sometimes nothing unlisted
    return NextToken.from_top_logprobs(
        [(f"t{i}", math.log(p / total)) for i, p in enumerate(listed)]
    )


def test_other_is_the_unlisted_mass() -> None:
    """ "other" is 1 minus what the backend listed."""
    assert SAMPLE.other == pytest.approx(0.15)
    assert SAMPLE.tokens == (" Paris", " the", " a", " Lyon")


def test_temperature_1_leaves_the_distribution_unchanged() -> None:
    """At temperature 1 every listed probability and the unlisted mass stay as listed."""
    at_one = at_temperature(SAMPLE, 1.0)
    assert at_one.listed == pytest.approx((0.5, 0.2, 0.1, 0.05))
    assert at_one.other == pytest.approx(0.15)


def test_lower_temperature_raises_the_likeliest_share_toward_1() -> None:
    """As temperature falls toward 0, the likeliest token's share rises monotonically to 1."""
    shares = [at_temperature(SAMPLE, t).top_share() for t in (1.0, 0.7, 0.5, 0.3, 0.1, 0.02)]
    assert shares == sorted(shares)
    assert shares[1] > 0.5
    assert shares[-1] == pytest.approx(1.0, abs=1e-9)


def test_higher_temperature_flattens() -> None:
    """Above 1 the likeliest token loses share and the unlisted mass grows."""
    hot = at_temperature(SAMPLE, 2.0)
    assert hot.top_share() < 0.5
    assert hot.other > 0.15


def test_reshaping_matches_softmax_of_logits_over_t() -> None:
    """With nothing unlisted the result is exactly softmax(logits / T)."""
    logits = [2.0, 1.0, 0.5, -1.0]
    total = math.log(sum(math.exp(x) for x in logits))
    full = NextToken.from_top_logprobs([(f"t{i}", x - total) for i, x in enumerate(logits)])
    assert full.other == 0.0
    t = 0.6
    expected = [math.exp(x / t) for x in logits]
    assert at_temperature(full, t).listed == pytest.approx([e / sum(expected) for e in expected])


def test_unlisted_mass_is_reshaped_as_tokens_as_likely_as_the_least_listed() -> None:
    """ "other" at T has the weight r·p_min^(1/T−1) next to the listed tokens' p^(1/T)."""
    t = 0.5
    weights = [p ** (1 / t) for p in (0.5, 0.2, 0.1, 0.05)] + [0.15 * 0.05 ** (1 / t - 1)]
    reshaped = at_temperature(SAMPLE, t)
    assert reshaped.other == pytest.approx(weights[-1] / sum(weights))
    assert reshaped.listed[0] == pytest.approx(weights[0] / sum(weights))


def test_temperature_0_is_argmax() -> None:
    """Temperature 0 gives the likeliest token everything."""
    greedy = at_temperature(SAMPLE, 0.0)
    assert greedy.listed == (1.0, 0.0, 0.0, 0.0)
    assert greedy.other == 0.0


def test_top_p_1_keeps_every_listed_token() -> None:
    """top_p 1 keeps every listed token and the unlisted ones."""
    nucleus = top_p_kept(at_temperature(SAMPLE, 1.0), 1.0)
    assert nucleus.count == 4
    assert nucleus.includes_other


def test_top_p_at_the_top_probability_keeps_one_and_just_above_keeps_two() -> None:
    """top_p up to the top token's probability keeps it alone; a hair above needs the next.

    (The smallest set adding up to p: at p = 0.5 the top token's 0.5 is enough.)
    """
    base = at_temperature(SAMPLE, 1.0)
    assert top_p_kept(base, 0.5).count == 1
    assert top_p_kept(base, 0.5 - 1e-6).count == 1
    assert top_p_kept(base, 0.5 + 1e-6).count == 2
    assert top_p_kept(base, 0.0).count == 1


def test_top_p_reaching_past_the_listed_tokens_includes_other() -> None:
    """When the listed tokens add up to less than top_p, unlisted ones are kept too."""
    base = at_temperature(SAMPLE, 1.0)
    assert top_p_kept(base, 0.8).count == 3
    assert not top_p_kept(base, 0.8).includes_other
    assert top_p_kept(base, 0.9).count == 4
    assert top_p_kept(base, 0.9).includes_other


def test_order_of_top_p_and_temperature_matters() -> None:
    """Cutting top_p after a hot temperature keeps more tokens than cutting it at 1."""
    first = picture(SAMPLE, 2.0, 0.7, top_p_before_temperature=False)
    last = picture(SAMPLE, 2.0, 0.7, top_p_before_temperature=True)
    assert last.nucleus.count == 2  # 0.5 + 0.2 at temperature 1
    assert first.nucleus.count > last.nucleus.count


def test_sampling_distribution_is_the_kept_set_renormalised() -> None:
    """The odds a sample follows are the kept tokens' shares at T, scaled to add up to 1."""
    result = picture(SAMPLE, 0.5, 0.6, top_p_before_temperature=True)
    kept = result.reshaped.listed[:2]
    assert result.nucleus.count == 2
    assert result.sampling.listed[:2] == pytest.approx([p / sum(kept) for p in kept])
    assert result.sampling.listed[2:] == (0.0, 0.0)
    assert result.sampling.other == 0.0


def test_from_top_logprobs_keeps_the_likeliest_and_sorts() -> None:
    """Entries beyond the limit (a server's sampled token) are dropped; sorted by logprob."""
    top = {"b": -2.0, "a": -0.5, "z": -9.0, "c": -1.0, "dead": -math.inf}
    listed = NextToken.from_top_logprobs(top, limit=3)
    assert listed.tokens == ("a", "c", "b")
    with pytest.raises(ValueError):
        NextToken.from_top_logprobs({"x": -math.inf})


@pytest.mark.parametrize("seed", range(200))
def test_properties_hold_for_random_top_lists(seed: int) -> None:
    """For random lists, temperatures and top_p: every distribution adds up to 1, is
    non-negative, keeps the order of the tokens, and the kept set is the smallest enough."""
    rng = random.Random(seed)
    next_token = random_next_token(rng)
    temperature = rng.choice([0.0, 1e-3, rng.uniform(0.05, 2.0), 1.0, 2.0])
    top_p = rng.choice([0.0, rng.random(), 1.0])
    result = picture(next_token, temperature, top_p, top_p_before_temperature=rng.random() < 0.5)
    for dist in (result.base, result.reshaped, result.sampling):
        assert math.fsum(dist.listed) + dist.other == pytest.approx(1.0, abs=1e-9)
        assert all(p >= 0 for p in dist.listed) and dist.other >= 0
        assert list(dist.listed) == sorted(dist.listed, reverse=True)
    cut_on = result.base if result.top_p_before_temperature else result.reshaped
    kept = math.fsum(cut_on.listed[: result.nucleus.count])
    if result.nucleus.includes_other:
        kept += cut_on.other
    assert 1 <= result.nucleus.count <= len(next_token.tokens)
    if top_p < 1:
        # Enough mass (unless nothing more exists) and no token more than needed.
        assert kept >= top_p - 1e-9
        without_last = math.fsum(cut_on.listed[: result.nucleus.count - 1])
        assert result.nucleus.includes_other or without_last < top_p or result.nucleus.count == 1
    assert math.fsum(result.sampling.listed[result.nucleus.count :]) == 0.0


def test_renormalise_handles_a_distribution_with_nothing_left() -> None:
    """A kept set whose shares all underflowed falls back to the likeliest token."""
    empty = Distribution((0.0, 0.0), 0.0)
    assert renormalise(empty, top_p_kept(empty, 0.5)).listed == (1.0, 0.0)
