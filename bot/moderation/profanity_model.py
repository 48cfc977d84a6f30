"""alt-profanity-check's model, scored without scikit-learn's per-call overhead.

The package's `predict_prob` costs about 4 ms a call whatever the number of
texts: scikit-learn checks its input on every step, the calibrated classifier
runs five folds, and `np.apply_along_axis` picks a column. The model itself is
small: a TF-IDF vectorizer (word tokens, English stop words, l2 norm) and five
linear SVMs, each followed by a sigmoid calibration, whose probabilities are
averaged. `LinearProfanityModel` takes those numbers from the loaded objects
(their public attributes) and computes the same probability with numpy, in
tens of microseconds for a short text.

It is only used when it agrees with the package on probe texts when built
(`load_model`); otherwise, or if the objects are not shaped as expected (a new
package version), the package's own `predict_prob` is used.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# Texts the fast model must score as the package does before it is used.
PROBES = (
    "",
    "hello there, how are you today?",
    "The quick brown fox jumps over the lazy dog.",
    "sex education class",
    "you are a complete idiot and I hate you",
    "fuck this shit",
    "What the hell is going on here?!",
    "Once upon a time, in a land far away, there lived a dragon.",
    "Ça va? 你好 — ünïcödé text with émojis 🎉",
    "shit " * 50,
)
# Largest difference in probability allowed against the package.
TOLERANCE = 1e-9

Scorer = Callable[[Sequence[str]], list[float]]


class LinearProfanityModel:
    """P(profane) of texts: TF-IDF features, five calibrated linear folds, averaged."""

    def __init__(self, vectorizer: Any, model: Any) -> None:
        if getattr(model, "method", None) != "sigmoid" or list(model.classes_) != [0, 1]:
            raise ValueError("not a binary, sigmoid-calibrated classifier")
        if vectorizer.sublinear_tf or vectorizer.binary or vectorizer.norm != "l2":
            raise ValueError("not a plain l2-normalised TF-IDF vectorizer")
        folds = model.calibrated_classifiers_
        self._analyze = vectorizer.build_analyzer()
        self._vocabulary: dict[str, int] = vectorizer.vocabulary_
        self._idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        # One row of weights per fold over the vocabulary, and per fold the
        # SVM's intercept and the sigmoid's slope and offset.
        self._weights = np.vstack([fold.estimator.coef_[0] for fold in folds])
        self._intercepts = np.array([fold.estimator.intercept_[0] for fold in folds])
        self._slopes = np.array([fold.calibrators[0].a_ for fold in folds], dtype=np.float64)
        self._offsets = np.array([fold.calibrators[0].b_ for fold in folds], dtype=np.float64)

    def score(self, texts: Sequence[str]) -> list[float]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> float:
        counts = Counter(
            self._vocabulary[token] for token in self._analyze(text) if token in self._vocabulary
        )
        decisions = self._intercepts
        if counts:
            columns = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
            tfidf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            tfidf *= self._idf[columns]
            tfidf /= np.sqrt(np.dot(tfidf, tfidf))
            decisions = self._weights[:, columns] @ tfidf + self._intercepts
        # The calibrated probability of each fold, then their mean.
        probabilities = 1.0 / (1.0 + np.exp(self._slopes * decisions + self._offsets))
        return float(probabilities.mean())


def load_model() -> Scorer:
    """The package's model as a scorer: the linear one when it agrees on the probes."""
    import profanity_check  # loads the model and vectorizer from the package's data
    from profanity_check import profanity_check as package

    def library(texts: Sequence[str]) -> list[float]:
        return [float(p) for p in profanity_check.predict_prob(list(texts))]

    try:
        fast = LinearProfanityModel(package.vectorizer, package.model)
        expected = library(PROBES)
        got = fast.score(PROBES)
        worst = max(abs(a - b) for a, b in zip(expected, got, strict=True))
    except Exception as err:  # another shape of model: the package knows best
        log.warning("profanity classifier: using the package's own scoring (%s)", err)
        return library
    if worst > TOLERANCE:
        log.warning(
            "profanity classifier: the linear scoring differs from the package's by %.2g; "
            "using the package's own",
            worst,
        )
        return library
    return fast.score
