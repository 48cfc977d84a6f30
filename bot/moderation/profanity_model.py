"""alt-profanity-check's model as plain numbers, scored in plain Python.

The package's `predict_prob` costs about 4 ms a call whatever the number of
texts (scikit-learn checks its input at every step, the calibrated classifier
runs five folds), and importing scikit-learn adds about 100 MiB to the
process. The model itself is small: a TF-IDF vectorizer (lowercased word
tokens of two or more characters, English stop words out, l2 norm) and five
linear SVMs, each followed by a sigmoid calibration, whose probabilities are
averaged.

So the numbers are exported once per package version, by a child process
that loads the package (`python -m bot.moderation.profanity_model PATH`),
writes them to a cache file, and checks that the file, read back as the bot
reads it, gives the package's probabilities on probe texts. The bot reads
that file with the standard library alone — no scikit-learn, and no numpy
either (11 MiB once imported): a text has a few dozen words, and a loop over
them costs no more than numpy's calls did. If anything does not fit
(another shape of model, a failed export), the package's own `predict_prob`
is used.
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import logging
import math
import os
import re
import subprocess
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

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
# Version of the cache file's layout (in its name: a new layout is exported anew).
FILE_FORMAT = 2

Scorer = Callable[[Sequence[str]], list[float]]


class LinearProfanityModel:
    """P(profane) of texts: TF-IDF features, calibrated linear folds, averaged.

    `table` holds one row per vocabulary word: its idf, then its weight in each
    fold; per fold, `intercepts` (the SVM's) and the sigmoid's `slopes` and
    `offsets`.
    """

    def __init__(
        self,
        *,
        token_pattern: str,
        stop_words: Sequence[str],
        vocabulary: Sequence[str],
        table: Sequence[float],
        intercepts: Sequence[float],
        slopes: Sequence[float],
        offsets: Sequence[float],
    ) -> None:
        self._folds = len(intercepts)
        self._stride = self._folds + 1
        if not (len(slopes) == len(offsets) == self._folds) or (
            len(table) != len(vocabulary) * self._stride
        ):
            raise ValueError("the model's numbers do not fit together")
        self._tokens = re.compile(token_pattern).findall
        stop = frozenset(stop_words)
        # Stop words are never counted, so they have no column.
        self._columns = {token: i for i, token in enumerate(vocabulary) if token not in stop}
        self._table = table
        self._intercepts = tuple(intercepts)
        self._calibration = tuple(zip(slopes, offsets, strict=True))

    def score(self, texts: Sequence[str]) -> list[float]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> float:
        counts = Counter(map(self._columns.get, self._tokens(text.lower())))
        counts.pop(None, None)  # words outside the vocabulary
        decisions = self._intercepts
        if counts:
            table, stride, folds = self._table, self._stride, range(self._folds)
            sums = [0.0] * self._folds
            norm = 0.0
            for column, count in counts.items():
                row = column * stride  # type: ignore[operator]
                tfidf = count * table[row]
                norm += tfidf * tfidf
                for fold in folds:
                    sums[fold] += tfidf * table[row + 1 + fold]
            # The l2-normalised TF-IDF vector's dot product with each fold's weights.
            scale = 1.0 / math.sqrt(norm)
            decisions = tuple(
                total * scale + b for total, b in zip(sums, self._intercepts, strict=True)
            )
        # Each fold's calibrated probability, then their mean.
        probabilities = [
            _sigmoid(slope * d + offset)
            for d, (slope, offset) in zip(decisions, self._calibration, strict=True)
        ]
        return sum(probabilities) / len(probabilities)

    # -- the file --------------------------------------------------------------------

    @classmethod
    def read(cls, path: Path) -> LinearProfanityModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        table = array("d", base64.b64decode(data["table"]))  # little-endian float64
        if sys.byteorder == "big":
            table.byteswap()
        return cls(
            token_pattern=data["token_pattern"],
            stop_words=data["stop_words"],
            vocabulary=data["vocabulary"],
            table=table,
            intercepts=data["intercepts"],
            slopes=data["slopes"],
            offsets=data["offsets"],
        )


def _sigmoid(z: float) -> float:
    """1 / (1 + e^z), as the calibration computes it (0 where e^z overflows)."""
    return 1.0 / (1.0 + math.exp(z)) if z < 700.0 else 0.0


def numbers_of(vectorizer: Any, model: Any) -> dict[str, Any]:
    """The model's numbers, from the package's loaded objects (raises when they do not
    fit): the file's fields, `table` as raw little-endian float64 (see
    LinearProfanityModel). In the exporting child process, which has numpy."""
    import numpy as np

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
    weights = np.vstack([fold.estimator.coef_[0] for fold in folds])
    # One row per word: its idf, then its weight in each fold.
    table = np.column_stack([vectorizer.idf_, weights.T]).astype("<f8")
    return {
        "format": FILE_FORMAT,
        "token_pattern": vectorizer.token_pattern,
        "stop_words": sorted(vectorizer.get_stop_words() or ()),
        "vocabulary": vocabulary,
        "table": base64.b64encode(table.tobytes()).decode("ascii"),
        "intercepts": [float(fold.estimator.intercept_[0]) for fold in folds],
        "slopes": [float(fold.calibrators[0].a_) for fold in folds],
        "offsets": [float(fold.calibrators[0].b_) for fold in folds],
    }


def export(path: Path) -> None:
    """Write the package's model as plain numbers to `path`, once the file, read back
    as the bot reads it, scores as the package does.

    Runs in a child process (it imports scikit-learn); raises when the
    numbers do not fit or disagree.
    """
    import profanity_check
    from profanity_check import profanity_check as package

    numbers = numbers_of(package.vectorizer, package.model)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + f".{os.getpid()}.partial")
    try:
        partial.write_text(json.dumps(numbers), encoding="utf-8")
        model = LinearProfanityModel.read(partial)
        expected = [float(p) for p in profanity_check.predict_prob(list(PROBES))]
        worst = max(abs(a - b) for a, b in zip(expected, model.score(PROBES), strict=True))
        if worst > TOLERANCE:
            raise ValueError(f"the plain scoring differs from the package's by {worst:.2g}")
        partial.replace(path)  # whole or not at all, also with several processes
    finally:
        partial.unlink(missing_ok=True)


def cache_path() -> Path:
    """Where this package version's numbers are kept."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    version = importlib.metadata.version(PACKAGE)
    return base / "couplet" / f"profanity-{version}.v{FILE_FORMAT}.json"


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
                # Its own session: a Ctrl-C typed in the terminal (the sandbox's "stop
                # waiting") must not kill the export half-way.
                start_new_session=True,
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
