"""SamplingService and its chart on the real local model: numbers, PNG, samples, next token."""

from __future__ import annotations

import io
import math
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image

from bot.completions import CompletionsClient
from bot.errors import ParameterError
from bot.render.sampling import caption, sampling_content
from bot.render.sampling_chart import chart_png
from bot.services.generation import GenerationService, Requester
from bot.services.sampling import SamplingOutcome, SamplingService, SamplingUnavailable
from bot.storage.sampling import SamplingChart
from tests.completions.fault_server import closed_port

PROMPT = "The capital of France is"
ASKER = Requester(user_id=1, guild_id=2, channel_id=3)


@pytest.fixture
async def client(local_model_url: str) -> AsyncIterator[CompletionsClient]:
    async with CompletionsClient(local_model_url, backend="llama-cpp-python") as c:
        yield c


def service_for(client: CompletionsClient) -> SamplingService:
    return SamplingService(client, GenerationService(client))


async def raw_top_logprobs(base_url: str, prompt: str) -> dict[str, float]:
    """The server's own answer for the next token, fetched without Couplet's client."""
    body = {"prompt": prompt, "max_tokens": 1, "logprobs": 5, "temperature": 0, "top_p": 1}
    async with httpx.AsyncClient(timeout=120) as http:
        response = await http.post(f"{base_url}/completions", json=body)
    response.raise_for_status()
    return response.json()["choices"][0]["logprobs"]["top_logprobs"][0]


def expected_numbers(top: dict[str, float], temperature: float, top_p: float) -> tuple:
    """Worked out here from the raw logprobs, by the rules the caption states."""
    pairs = sorted(top.items(), key=lambda kv: kv[1], reverse=True)[:5]
    probs = [math.exp(lp) for _, lp in pairs]
    other = 1 - sum(probs)
    weights = [p ** (1 / temperature) for p in probs]
    weights.append(other * probs[-1] ** (1 / temperature - 1))
    top_share = weights[0] / sum(weights)
    # llama-cpp-python cuts top_p at temperature 1.
    kept, total = 0, 0.0
    for p in probs:
        if kept and total >= top_p:
            break
        kept, total = kept + 1, total + p
    return pairs[0][0], probs[0], top_share, kept, other


def stored(outcome: SamplingOutcome, temperature: float, top_p: float) -> SamplingChart:
    """The outcome as the database keeps it for the buttons."""
    next_token = outcome.picture.next_token
    return SamplingChart(
        user_id=1,
        prompt=outcome.prompt,
        temperature=temperature,
        top_p=top_p,
        top_logprobs=list(zip(next_token.tokens, next_token.logprobs, strict=True)),
    )


def percent_value(text: str) -> float:
    return float(text.rstrip("%")) / 100


async def test_caption_numbers_equal_the_computed_ones(
    client: CompletionsClient, local_model_url: str
) -> None:
    """The caption's percentages and kept count match the maths redone from the raw answer."""
    outcome = await service_for(client).chart(ASKER, PROMPT, {"temperature": 0.5, "top_p": 0.25})
    top = await raw_top_logprobs(local_model_url, PROMPT)
    token, p_top, top_share, kept, other = expected_numbers(top, 0.5, 0.25)
    text = caption(outcome)
    match = re.search(r"goes from (\d+(?:\.\d)?)% to (\d+(?:\.\d)?)%", text)
    assert match, text
    assert percent_value(match[1] + "%") == pytest.approx(p_top, abs=0.0051)
    assert percent_value(match[2] + "%") == pytest.approx(top_share, abs=0.0051)
    assert f"keeps {kept} token" in text
    assert outcome.picture.tokens[0] == token
    assert f"unlisted {round(other * 100)}%" in text or f"unlisted {other:.1%}" in text
    assert "reshaped as if each unlisted token were as likely as the least likely" in text


async def test_chart_png_for_the_real_answer(client: CompletionsClient) -> None:
    """The chart of the real model's answer is a PNG of a sensible size with one row per bar."""
    outcome = await service_for(client).chart(ASKER, PROMPT, {"temperature": 0.7})
    png = chart_png(outcome)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    width, height = image.size
    assert 600 <= width <= 1600
    # Five listed tokens and "other": taller than a chart of one row, shorter than a poster.
    assert 400 <= height <= 1200
    image.load()  # decodes every pixel (fails on a truncated file)
    colours = {image.getpixel((x, y))[:3] for x in range(0, width, 7) for y in range(0, height, 7)}
    assert (0x25, 0x63, 0xEB) in colours  # the temperature bars are drawn


async def test_text_fallback_lists_every_token_visibly(client: CompletionsClient) -> None:
    """The message lists each listed token quoted (spaces visible) with both percentages."""
    outcome = await service_for(client).chart(ASKER, PROMPT, {"temperature": 0.5})
    content = sampling_content(outcome)
    assert len(content) <= 2000
    for token in outcome.picture.tokens:
        assert f'"{token}"' in content or token.strip() == ""
    assert "other (unlisted)" in content


async def test_sample_it_at_temperature_0_always_gives_the_likeliest(
    client: CompletionsClient,
) -> None:
    """Ten samples at temperature 0 all come out as the chart's likeliest token."""
    service = service_for(client)
    outcome = await service.chart(ASKER, "Monday, Tuesday, Wednesday,", {"temperature": 0})
    sampled = await service.sample(stored(outcome, 0, 1), ASKER)
    assert sampled.samples == (outcome.picture.tokens[0],) * 10
    counts, unlisted = sampled.sample_counts()
    assert counts[0] == 10 and unlisted == 0


async def test_next_token_appends_the_likeliest_and_charts_the_next_position(
    client: CompletionsClient,
) -> None:
    """Next token charts the prompt plus the likeliest token, with the same settings."""
    service = service_for(client)
    first = await service.chart(ASKER, PROMPT, {"temperature": 0.8, "top_p": 0.5})
    second = await service.next_token(stored(first, 0.8, 0.5), ASKER)
    assert second.prompt == PROMPT + first.picture.tokens[0]
    assert (second.picture.temperature, second.picture.top_p) == (0.8, 0.5)
    assert second.picture.tokens != first.picture.tokens


@pytest.mark.parametrize("backend", ["ollama", "tgi"])
async def test_backend_without_logprobs_is_refused_in_one_sentence(backend: str) -> None:
    """Ollama and TGI give no logprobs: one sentence says so, before any request is made."""
    url = f"http://127.0.0.1:{closed_port()}/v1"
    async with CompletionsClient(url, backend=backend) as client:
        with pytest.raises(SamplingUnavailable) as caught:
            await service_for(client).chart(ASKER, PROMPT)
    message = str(caught.value)
    assert message.startswith("/sampling needs the next token's probabilities")
    assert "returns no logprobs" in message
    assert message.count(". ") == 0 and message.endswith(".")


async def test_bad_values_get_the_request_models_sentence(client: CompletionsClient) -> None:
    """temperature and top_p are checked like /complete's options."""
    service = service_for(client)
    with pytest.raises(ParameterError, match="temperature 3 is out of range"):
        await service.chart(ASKER, PROMPT, {"temperature": 3})
    with pytest.raises(ParameterError, match="top_p 'lots' is not a number"):
        await service.chart(ASKER, PROMPT, {"top_p": "lots"})
    with pytest.raises(ParameterError, match="prompt is empty"):
        await service.chart(ASKER, "  ")


async def test_next_token_refuses_a_likeliest_token_without_text() -> None:
    """A likeliest token with no text (a byte piece, the end) cannot be appended: one sentence."""
    url = f"http://127.0.0.1:{closed_port()}/v1"
    async with CompletionsClient(url, backend="llama-cpp-python") as client:
        chart = SamplingChart(
            user_id=1, prompt="x", temperature=1, top_p=1, top_logprobs=[("", -0.1), ("a", -3)]
        )
        with pytest.raises(SamplingUnavailable, match="Next token can't append it"):
            await service_for(client).next_token(chart, ASKER)
