"""Pearson's chi-square test: do drawn tokens follow the odds the backend listed?"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bot.services.sampling_math import Distribution, count_samples

# A bin expected to hold fewer samples than this is merged into the rest, so
# the chi-square approximation holds.
MIN_EXPECTED = 5.0


def chi_square_sf(x: float, df: int) -> float:
    """P(X ≥ x) for a chi-square variable with `df` (whole) degrees of freedom.

    Exact: Q(1) = erfc(√(x/2)), Q(2) = e^(−x/2), and
    Q(k + 2) = Q(k) + (x/2)^(k/2) e^(−x/2) / Γ(k/2 + 1).
    """
    if df < 1:
        raise ValueError("df must be at least 1")
    if x <= 0:
        return 1.0
    half = x / 2
    k, tail = (1, math.erfc(math.sqrt(half))) if df % 2 else (2, math.exp(-half))
    while k < df:
        tail += math.exp((k / 2) * math.log(half) - half - math.lgamma(k / 2 + 1))
        k += 2
    return min(tail, 1.0)


def fit_p_value(samples: Sequence[str], tokens: Sequence[str], expected: Distribution) -> float:
    """The chance of a fit at least this bad if `samples` were drawn from `expected`.

    `expected` gives each of `tokens` a probability and the unlisted tokens
    together `expected.other`. Tokens expected fewer than MIN_EXPECTED times
    share one bin with the unlisted ones. A sample in a bin of probability 0
    gives 0.
    """
    total = len(samples)
    counts, unlisted = count_samples(tokens, samples)
    bins: list[tuple[float, int]] = []
    rest_p, rest_count = expected.other, unlisted
    for p, count in zip(expected.listed, counts, strict=True):
        if p * total >= MIN_EXPECTED:
            bins.append((p, count))
        else:
            rest_p, rest_count = rest_p + p, rest_count + count
    if rest_p > 0:
        bins.append((rest_p, rest_count))
    elif rest_count:
        return 0.0
    if len(bins) < 2:
        return 1.0  # one bin holds every sample: nothing to compare
    chi2 = math.fsum((count - total * p) ** 2 / (total * p) for p, count in bins)
    return chi_square_sf(chi2, len(bins) - 1)
