"""alt-profanity-check's model as plain numbers, scored with numpy.

The package's `predict_prob` costs about 4 ms a call whatever the number of
texts (scikit-learn checks its input at every step, the calibrated classifier
runs five folds), and importing scikit-learn adds about 100 MiB to the
process. The model itself is small: a TF-IDF vectorizer (lowercased word
tokens of two or more characters, English stop words out, l2 norm) and five
linear SVMs, each followed by a sigmoid calibration, whose probabilities are
averaged.

So the numbers are exported once per package version, by a child process
that loads the package (`python -m bot.moderation.profanity_model PATH`),
checks that the plain scoring gives the package's probabilities on probe
texts, and writes them to a cache file. The bot loads that file with numpy
and never imports scikit-learn. If anything does not fit (another shape of
model, a failed export), the package's own `predict_prob` is used.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

PACKAGE = "alt-profanity-check"
# Texts the plain scoring must score as the package does before it is used.
PROBES = (
    "",
    "hello there, how are you today?",
    "The quick brown fox jumps over the lazy dog.",
    "sex education class",
    "you are a complete idiot and I hate you",
    "fuck this shit",
    "What the hell is going on here?!",
    "Once upon a time, in a land far away, there lived a dragon.",
    "Ça va? 你好 — ÜNÏCÖDÉ text with émojis 🎉 and the_under_score",
    "shit " * 50,
)
# Largest difference in probability allowed against the package.
TOLERANCE = 1e-9
# Seconds the export may take (it loads scikit-learn and the model once).
EXPORT_TIMEOUT = 120.0

Scorer = Callable[[Sequence[str]], list[float]]


class LinearProfanityModel:
    """P(profane) of texts: TF-IDF features, five calibrated linear folds, averaged."""

    def __init__(
        self,
        *,
        token_pattern: str,
        stop_words: Sequence[str],
        vocabulary: Sequence[str],
        idf: np.ndarray,
        weights: np.ndarray,
        intercepts: np.ndarray,
        slopes: np.ndarray,
        offsets: np.ndarray,
    ) -> None:
        self._tokens = re.compile(token_pattern).findall
        self._stop_words = frozenset(stop_words)
        self._columns = {token: i for i, token in enumerate(vocabulary)}
        self._idf = idf
        # One row of weights per fold over the vocabulary; per fold the SVM's
        # intercept and the sigmoid's slope and offset.
        self._weights = weights
        self._intercepts = intercepts
        self._slopes = slopes
        self._offsets = offsets

    def score(self, texts: Sequence[str]) -> list[float]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> float:
        columns = self._columns
        counts = Counter(
            columns[token]
            for token in self._tokens(text.lower())
            if token in columns and token not in self._stop_words
        )
        decisions = self._intercepts
        if counts:
            found = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
            tfidf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            tfidf *= self._idf[found]
            tfidf /= np.sqrt(np.dot(tfidf, tfidf))
            decisions = self._weights[:, found] @ tfidf + self._intercepts
        # Each fold's calibrated probability, then their mean.
        probabilities = 1.0 / (1.0 + np.exp(self._slopes * decisions + self._offsets))
        return float(probabilities.mean())

    # -- the file --------------------------------------------------------------------

    @classmethod
    def read(cls, path: Path) -> LinearProfanityModel:
        with np.load(path, allow_pickle=False) as data:
            text = json.loads(str(data["text"]))
            return cls(
                token_pattern=text["token_pattern"],
                stop_words=text["stop_words"],
                vocabulary=text["vocabulary"],
                idf=data["idf"],
                weights=data["weights"],
                intercepts=data["intercepts"],
                slopes=data["slopes"],
                offsets=data["offsets"],
            )


def numbers_of(vectorizer: Any, model: Any) -> dict[str, Any]:
    """The model's numbers, from the package's loaded objects (raises when they do not fit)."""
    plain_vectorizer = (
        vectorizer.analyzer == "word"
        and vectorizer.input == "content"
        and vectorizer.lowercase
        and vectorizer.preprocessor is None
        and vectorizer.tokenizer is None
        and vectorizer.strip_accents is None
        and tuple(vectorizer.ngram_range) == (1, 1)
        and vectorizer.norm == "l2"
        and vectorizer.use_idf
        and not vectorizer.sublinear_tf
        and not vectorizer.binary
    )
    if not plain_vectorizer:
        raise ValueError("not a plain word TF-IDF vectorizer")
    if getattr(model, "method", None) != "sigmoid" or [int(c) for c in model.classes_] != [0, 1]:
        raise ValueError("not a binary, sigmoid-calibrated classifier")
    folds = model.calibrated_classifiers_
    vocabulary = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
    return {
        "token_pattern": vectorizer.token_pattern,
        "stop_words": sorted(vectorizer.get_stop_words() or ()),
        "vocabulary": vocabulary,
        "idf": np.asarray(vectorizer.idf_, dtype=np.float64),
        "weights": np.vstack([fold.estimator.coef_[0] for fold in folds]).astype(np.float64),
        "intercepts": np.array([fold.estimator.intercept_[0] for fold in folds], np.float64),
        "slopes": np.array([fold.calibrators[0].a_ for fold in folds], dtype=np.float64),
        "offsets": np.array([fold.calibrators[0].b_ for fold in folds], dtype=np.float64),
    }


def export(path: Path) -> None:
    """Write the package's model as plain numbers to `path`, once they score as it does.

    Runs in a child process (it imports scikit-learn); raises when the
    numbers do not fit or disagree.
    """
    import profanity_check
    from profanity_check import profanity_check as package

    numbers = numbers_of(package.vectorizer, package.model)
    model = LinearProfanityModel(**numbers)
    expected = [float(p) for p in profanity_check.predict_prob(list(PROBES))]
    worst = max(abs(a - b) for a, b in zip(expected, model.score(PROBES), strict=True))
    if worst > TOLERANCE:
        raise ValueError(f"the plain scoring differs from the package's by {worst:.2g}")
    text = {k: numbers.pop(k) for k in ("token_pattern", "stop_words", "vocabulary")}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + f".{os.getpid()}.npz")
    np.savez(partial, text=np.array(json.dumps(text)), **numbers)
    partial.replace(path)  # whole or not at all, also with several processes


def cache_path() -> Path:
    """Where this package version's numbers are kept."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "couplet" / f"profanity-{importlib.metadata.version(PACKAGE)}.npz"


def _library() -> Scorer:
    import profanity_check  # scikit-learn and the pickled model, in this process

    def score(texts: Sequence[str]) -> list[float]:
        return [float(p) for p in profanity_check.predict_prob(list(texts))]

    return score


def load_model(path: Path | None = None) -> Scorer:
    """The model as a scorer: the plain numbers (exported first if needed), else the
    package's own scoring. Blocks: call it from a worker thread."""
    path = path or cache_path()
    try:
        if not path.exists():
            subprocess.run(
                [sys.executable, "-m", __name__, str(path)],
                check=True,
                capture_output=True,
                timeout=EXPORT_TIMEOUT,
            )
        return LinearProfanityModel.read(path).score
    except Exception as err:
        detail = getattr(err, "stderr", b"") or b""
        log.warning(
            "profanity classifier: using the package's own scoring (%s %s)",
            err,
            detail.decode(errors="replace")[-500:],
        )
        return _library()


if __name__ == "__main__":
    export(Path(sys.argv[1]))
