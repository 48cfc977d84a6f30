"""The profanity model scored with numpy gives the package's own probabilities."""

from __future__ import annotations

import random

import profanity_check
import pytest
from profanity_check import profanity_check as package

from bot.moderation import profanity_model
from bot.moderation.profanity_model import LinearProfanityModel, load_model
from bot.moderation.providers import INLINE_CHARACTERS, ProfanityClassifier

WORDS = (
    "the river dawn soldier crossed hello what hell damn shit fuck idiot stupid love "
    "kill you are a an of sex class education bitch ass crap nice lovely Über café 你好"
).split()


def texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    made = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 40))) for _ in range(count)]
    return [*made, "", "   ", "!!!", "a" * 3000, "Shut UP, you IDIOT!!"]


def test_linear_scoring_matches_the_package() -> None:
    """On 300 mixed texts (clean, rude, empty, long, accented) the probabilities agree."""
    sample = texts(300, seed=9)
    expected = profanity_check.predict_prob(sample)
    got = LinearProfanityModel(package.vectorizer, package.model).score(sample)
    assert max(abs(float(a) - b) for a, b in zip(expected, got, strict=True)) < 1e-9
    assert any(p > 0.9 for p in got) and any(p < 0.1 for p in got)  # the sample has both


def test_the_linear_scoring_is_what_loads() -> None:
    """With the installed package, load_model returns the numpy scorer."""
    scorer = load_model()
    assert isinstance(getattr(scorer, "__self__", None), LinearProfanityModel)


def test_a_model_it_does_not_match_falls_back_to_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the linear scoring disagrees on the probes, the package's own scoring is used."""
    monkeypatch.setattr(LinearProfanityModel, "score", lambda self, t: [0.5 for _ in t])
    scorer = load_model()
    assert not isinstance(getattr(scorer, "__self__", None), LinearProfanityModel)
    probes = list(profanity_model.PROBES)
    assert scorer(probes) == [float(p) for p in profanity_check.predict_prob(probes)]


def test_a_model_of_another_shape_is_refused() -> None:
    """A classifier that is not sigmoid-calibrated is not scored linearly."""

    class Isotonic:
        method = "isotonic"
        classes_ = (0, 1)

    with pytest.raises(ValueError, match="sigmoid"):
        LinearProfanityModel(package.vectorizer, Isotonic())


async def test_long_texts_are_scored_like_short_ones() -> None:
    """Past INLINE_CHARACTERS the texts go to a worker thread, with the same scores."""
    classifier = ProfanityClassifier()
    rude = "shut up you fucking idiot. "
    short = await classifier.check([rude])
    long = await classifier.check([rude * (INLINE_CHARACTERS // len(rude) + 1)])
    assert short[0].found == long[0].found == ("profanity",)
