"""The providers that look at texts: OpenAI's moderation endpoint and the offline classifier.

Each takes every text of one request at once and answers one `ProviderResult`
per text, in order, or raises `ProviderUnavailable`. Neither blocks the event
loop: OpenAI is called with httpx's async client; the classifier scores short
texts in microseconds and hands long ones to a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from bot.moderation.categories import CLASSIFIER, OPENAI, OPENAI_CATEGORIES, PROFANITY

if TYPE_CHECKING:
    from bot.moderation.profanity_model import Scorer

log = logging.getLogger(__name__)

OPENAI_MODEL = "omni-moderation-latest"
# alt-profanity-check's probability from which a text counts as profane. Its own
# cut is 0.5, which flags "sex education class"; 0.9 keeps to swearing and insults.
PROFANITY_THRESHOLD = 0.9


class ProviderUnavailable(Exception):
    """A provider could not give a verdict (down, timed out, not installed)."""

    def __init__(self, provider: str, reason: str) -> None:
        super().__init__(f"{provider}: {reason}")
        self.provider = provider
        self.reason = reason


@dataclass(frozen=True)
class ProviderResult:
    """One provider's view of one text: the categories it found, and every score it gave."""

    provider: str
    found: tuple[str, ...] = ()
    scores: Mapping[str, float] = field(default_factory=dict)


class OpenAIModeration:
    """`POST {base}/moderations` with all texts of one request in one call."""

    name = OPENAI

    def __init__(
        self, base_url: str, api_key: str | None, *, timeout: float, client: httpx.AsyncClient
    ) -> None:
        self.url = base_url.rstrip("/") + "/moderations"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = timeout
        self.client = client

    async def check(self, texts: Sequence[str]) -> list[ProviderResult]:
        body = {"model": OPENAI_MODEL, "input": list(texts)}
        try:
            response = await self.client.post(
                self.url, json=body, headers=self._headers, timeout=self.timeout
            )
        except httpx.TimeoutException:
            raise ProviderUnavailable(self.name, "timed out") from None
        except httpx.HTTPError as err:
            raise ProviderUnavailable(self.name, f"unreachable ({type(err).__name__})") from None
        if response.status_code != 200:
            raise ProviderUnavailable(self.name, f"HTTP {response.status_code}")
        try:
            results = response.json()["results"]
            if len(results) != len(texts):
                raise ValueError(f"{len(results)} results for {len(texts)} texts")
            return [_openai_result(item) for item in results]
        except (ValueError, KeyError, TypeError) as err:
            raise ProviderUnavailable(self.name, f"unreadable answer ({err})") from None


def _openai_result(item: Mapping[str, Any]) -> ProviderResult:
    flags = item.get("categories") or {}
    raw = item.get("category_scores") or {}
    scores = {name: float(raw[name]) for name in OPENAI_CATEGORIES if name in raw}
    found = tuple(name for name in OPENAI_CATEGORIES if flags.get(name))
    if item.get("flagged") and not found:
        # Flagged under a category this version does not know: keep the
        # verdict under the closest known one rather than drop it.
        top = max(scores, key=lambda name: scores[name], default="harassment")
        found = (top,)
    return ProviderResult(OPENAI, found, scores)


# Texts up to this many characters in all are scored on the event loop (a
# few hundred microseconds at most, less than handing them to a thread);
# longer ones in a worker thread.
INLINE_CHARACTERS = 2_000


class ProfanityClassifier:
    """alt-profanity-check: a linear model shipped inside its PyPI package (English).

    The model (about a second to load) is loaded in a worker thread on first
    use, or earlier by `warm_up`. It is scored in plain Python (see
    profanity_model.py: the package's own call costs about 4 ms of overhead).
    """

    name = CLASSIFIER

    def __init__(self, threshold: float = PROFANITY_THRESHOLD) -> None:
        self.threshold = threshold
        self._model: Scorer | None = None
        self._lock = asyncio.Lock()

    async def warm_up(self) -> None:
        """Load the model now (off the event loop)."""
        await self._load()

    async def _load(self) -> Scorer:
        if self._model is not None:
            return self._model
        async with self._lock:
            if self._model is None:
                try:
                    self._model = await asyncio.to_thread(_import_classifier)
                except Exception as err:
                    raise ProviderUnavailable(self.name, f"not available ({err})") from None
            return self._model

    async def check(self, texts: Sequence[str]) -> list[ProviderResult]:
        score = await self._load()
        try:
            if sum(len(text) for text in texts) <= INLINE_CHARACTERS:
                probabilities = score(texts)
            else:
                probabilities = await asyncio.to_thread(score, list(texts))
        except Exception as err:
            log.exception("the profanity classifier failed")
            raise ProviderUnavailable(self.name, f"failed ({type(err).__name__})") from None
        results = []
        for probability in probabilities:
            found = (PROFANITY,) if probability >= self.threshold else ()
            results.append(ProviderResult(CLASSIFIER, found, {PROFANITY: probability}))
        return results


def _import_classifier() -> Scorer:
    from bot.moderation.profanity_model import load_model

    return load_model()
