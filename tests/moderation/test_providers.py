"""The providers: OpenAI's moderation endpoint (a loopback server in its shape) and the
real offline classifier."""

from __future__ import annotations

import httpx
import pytest

from bot.moderation.providers import OpenAIModeration, ProfanityClassifier, ProviderUnavailable
from tests.support.moderation_server import ModerationServer, running_moderation_server


async def test_openai_checks_every_text_in_one_call() -> None:
    """Three texts are one request with the key; each gets its categories and scores."""
    async with running_moderation_server() as server, httpx.AsyncClient() as client:
        provider = OpenAIModeration(server.base_url, "sk-mod", timeout=5, client=client)
        results = await provider.check(["hello", "a hateful line", "gory and menacing"])
    assert len(server.requests) == 1
    request = server.requests[0]
    assert request["body"] == {
        "model": "omni-moderation-latest",
        "input": ["hello", "a hateful line", "gory and menacing"],
    }
    assert request["authorization"] == "Bearer sk-mod"
    assert [r.found for r in results] == [
        (),
        ("hate",),
        ("harassment/threatening", "violence/graphic"),
    ]
    assert results[1].scores["hate"] == pytest.approx(0.97)
    assert len(results[0].scores) == 13


@pytest.mark.parametrize("mode", ["down", "hang"])
async def test_openai_down_or_slow_is_unavailable(mode: str) -> None:
    """A 503, or no answer within the timeout, raises ProviderUnavailable."""
    async with running_moderation_server(ModerationServer(mode=mode)) as server:
        async with httpx.AsyncClient() as client:
            provider = OpenAIModeration(server.base_url, None, timeout=0.5, client=client)
            with pytest.raises(ProviderUnavailable) as caught:
                await provider.check(["hello"])
    assert caught.value.provider == "openai"
    assert (
        ("503" in caught.value.reason) if mode == "down" else ("timed out" in caught.value.reason)
    )


async def test_openai_unreachable_is_unavailable() -> None:
    """A closed port is unavailable, not an exception that escapes."""
    async with httpx.AsyncClient() as client:
        provider = OpenAIModeration("http://127.0.0.1:9/v1", None, timeout=2, client=client)
        with pytest.raises(ProviderUnavailable):
            await provider.check(["hello"])


async def test_classifier_scores_real_text() -> None:
    """The shipped model flags swearing and leaves plain prose alone, with a score each."""
    classifier = ProfanityClassifier()
    clean, rude = await classifier.check(
        ["The soldier crossed the river at dawn.", "shut up you fucking idiot"]
    )
    assert clean.found == () and clean.scores["profanity"] < 0.5
    assert rude.found == ("profanity",) and rude.scores["profanity"] > 0.9
