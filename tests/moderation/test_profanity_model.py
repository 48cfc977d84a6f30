"""The profanity model as plain numbers gives the package's own probabilities."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import profanity_check
import pytest
from profanity_check import profanity_check as package

from bot.moderation.profanity_model import LinearProfanityModel, export, load_model, numbers_of
from bot.moderation.providers import INLINE_CHARACTERS, ProfanityClassifier

WORDS = (
    "the river dawn soldier crossed hello what hell damn shit fuck idiot stupid love "
    "kill you are a an of sex class education bitch ass crap nice lovely Über café 你好 "
    "SHIT Fuck it's don't x y under_score 42 4chan"
).split()


def texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    made = [
        rng.choice(["", " ", "\n", "!", ", "]).join(
            rng.choice(WORDS) for _ in range(rng.randint(0, 40))
        )
        for _ in range(count)
    ]
    return [*made, "", "   ", "!!!", "a" * 3000, "Shut UP, you IDIOT!!"]


def test_the_exported_numbers_score_as_the_package(tmp_path: Path) -> None:
    """Exported and read back, the numbers give the package's probabilities on 300 texts."""
    path = tmp_path / "model.json"
    export(path)
    sample = texts(300, seed=9)
    expected = profanity_check.predict_prob(sample)
    got = LinearProfanityModel.read(path).score(sample)
    assert max(abs(float(a) - b) for a, b in zip(expected, got, strict=True)) < 1e-9
    assert any(p > 0.9 for p in got) and any(p < 0.1 for p in got)  # the sample has both


def test_the_bot_loads_the_numbers_without_scikit_learn(tmp_path: Path) -> None:
    """load_model exports on first use (a child process) and scores without importing
    scikit-learn or numpy (11 MiB once imported)."""
    path = tmp_path / "cache" / "model.json"
    script = (
        "import sys; from pathlib import Path\n"
        "from bot.moderation.profanity_model import LinearProfanityModel, load_model\n"
        f"score = load_model(Path({str(path)!r}))\n"
        "print(isinstance(score.__self__, LinearProfanityModel), 'sklearn' in sys.modules,\n"
        "      'numpy' in sys.modules, score(['you fucking idiot'])[0] > 0.9)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    )
    assert result.stdout.split() == ["True", "False", "False", "True"], result.stderr
    assert path.exists()


def test_an_unreadable_file_falls_back_to_the_package(tmp_path: Path) -> None:
    """A damaged cache file: the package's own scoring, with the package's numbers."""
    path = tmp_path / "model.json"
    path.write_bytes(b"not numbers")
    scorer = load_model(path)
    assert not isinstance(getattr(scorer, "__self__", None), LinearProfanityModel)
    sample = texts(5, seed=1)
    assert scorer(sample) == [float(p) for p in profanity_check.predict_prob(sample)]


def test_a_model_of_another_shape_is_refused() -> None:
    """A classifier that is not sigmoid-calibrated is not exported."""

    class Isotonic:
        method = "isotonic"
        classes_ = (0, 1)

    with pytest.raises(ValueError, match="sigmoid"):
        numbers_of(package.vectorizer, Isotonic())


async def test_long_texts_are_scored_like_short_ones() -> None:
    """Past INLINE_CHARACTERS the texts go to a worker thread, with the same verdict."""
    classifier = ProfanityClassifier()
    rude = "shut up you fucking idiot. "
    short = await classifier.check([rude])
    long = await classifier.check([rude * (INLINE_CHARACTERS // len(rude) + 1)])
    assert short[0].found == long[0].found == ("profanity",)
