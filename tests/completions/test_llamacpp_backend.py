"""The `llamacpp` profile against llama.cpp's own llama-server (same Gemma 3 270M model).

What test_profiles.py checks against a stub, here on the real server: detection,
emulated n, best_of and echo (which it would refuse), stops while streaming,
its chat-style logprobs converted to the classic shape, word logit_bias through
its /tokenize, and suffix refused before any request. Each client records the
bodies it sends, so a test sees both what went out and what came back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.completions import CompletionRequest, CompletionsClient
from bot.errors import UnsupportedParameter
from tests.support.recording import BodyRecorder

CAPITAL = "Paris is the capital of"
DAYS = "Monday, Tuesday, Wednesday,"
STORY = "Once upon a time"


@pytest.fixture
def sent() -> BodyRecorder:
    return BodyRecorder()


@pytest.fixture
async def client(llamacpp_url: str, sent: BodyRecorder) -> AsyncIterator[CompletionsClient]:
    """A client in auto mode, so every test relies on detection."""
    async with CompletionsClient(llamacpp_url, transport=sent) as c:
        yield c


async def complete(client: CompletionsClient, **kwargs):
    return await client.complete(CompletionRequest.build(**kwargs))


async def greedy(client: CompletionsClient, prompt: str, max_tokens: int) -> str:
    """The greedy continuation from the prompt cache (a cold prompt's can differ slightly)."""
    await complete(client, prompt=prompt, max_tokens=2, temperature=0)
    result = await complete(client, prompt=prompt, max_tokens=max_tokens, temperature=0)
    return result.choices[0].text


async def test_detected_from_owned_by(client: CompletionsClient, sent: BodyRecorder) -> None:
    """/v1/models says owned_by "llamacpp": the llamacpp profile, the model under its alias."""
    assert (await client.profile()).name == "llamacpp"
    assert await client.list_models() == ["gemma-3-270m"]
    assert [path for path, _ in sent.sent] == ["/v1/models"]  # one listing, kept


async def test_n_is_emulated_with_a_seed_each(
    client: CompletionsClient, sent: BodyRecorder
) -> None:
    """n 3 gives three samples from three requests with seeds 3, 4, 5, none sending n."""
    result = await complete(client, prompt=STORY, n=3, max_tokens=8, temperature=1, seed=3)
    assert [c.index for c in result.choices] == [0, 1, 2]
    assert len({c.text for c in result.choices}) > 1
    assert result.emulated == ["n"]
    bodies = sent.bodies()
    assert sorted(b["seed"] for b in bodies) == [3, 4, 5]
    assert not any("n" in b for b in bodies)


async def test_best_of_is_ranked_by_couplet(client: CompletionsClient, sent: BodyRecorder) -> None:
    """best_of 3 (which llama-server refuses) comes from three requests with logprobs; the
    candidate with the highest mean logprob is returned."""
    result = await complete(
        client, prompt=STORY, best_of=3, n=1, max_tokens=4, temperature=1.5, seed=21
    )
    bodies = sent.bodies()
    assert len(bodies) == 3 and not any("best_of" in b for b in bodies)
    assert all(b["logprobs"] == 1 for b in bodies)
    assert len(result.candidates) == 3 and len({c.text for c in result.candidates}) > 1
    means = []
    for candidate in result.candidates:
        assert candidate.logprobs is not None
        values = [v for v in candidate.logprobs.token_logprobs if v is not None]
        means.append((sum(values) / len(values), candidate.text))
    [chosen] = result.choices
    assert chosen.text == max(means)[1] and chosen.rank == 1
    assert "best_of" in result.emulated


async def test_echo_is_emulated(client: CompletionsClient, sent: BodyRecorder) -> None:
    """echo (which llama-server refuses) is never sent; the prompt comes first all the same."""
    result = await complete(client, prompt=CAPITAL, echo=True, max_tokens=3, temperature=0)
    assert "echo" not in sent.bodies()[-1]
    text = result.choices[0].text
    assert text.startswith(CAPITAL) and len(text) > len(CAPITAL)
    assert result.emulated == ["echo"]


async def test_stop_while_streaming(client: CompletionsClient, sent: BodyRecorder) -> None:
    """A streamed completion ends right before the stop sequence, finishing with "stop"."""
    whole = await greedy(client, DAYS, 10)
    stop = whole[8:12]
    req = CompletionRequest.build(
        prompt=DAYS, max_tokens=10, temperature=0, stream=True, stop=[stop]
    )
    stream = client.stream(req)
    deltas = [d async for d in stream]
    assert "".join(deltas) == whole[: whole.find(stop)]
    assert stream.finish_reason == "stop"
    assert sent.bodies()[-1]["stream"] is True and sent.bodies()[-1]["stop"] == [stop]


async def test_chat_style_logprobs_become_classic(
    client: CompletionsClient, llamacpp_url: str
) -> None:
    """llama-server answers logprobs in the chat shape; Couplet returns tokens,
    token_logprobs, top_logprobs and text_offset, as the API does."""
    body = {"prompt": CAPITAL, "max_tokens": 4, "temperature": 0, "logprobs": 2}
    async with httpx.AsyncClient(timeout=60) as http:
        raw = (await http.post(f"{llamacpp_url}/completions", json=body)).json()
    assert "content" in raw["choices"][0]["logprobs"]  # the server's own shape

    result = await complete(client, prompt=CAPITAL, max_tokens=4, temperature=0, logprobs=2)
    choice = result.choices[0]
    lp = choice.logprobs
    assert lp is not None
    assert "".join(lp.tokens) == choice.text
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 4
    assert lp.text_offset[0] == len(CAPITAL) and lp.text_offset == sorted(lp.text_offset)
    for token, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, strict=True):
        assert top is not None and len(top) == 2
        assert logprob is not None and logprob <= 0
        assert max(top, key=top.__getitem__) == token  # greedy: the likeliest alternative


async def test_word_logit_bias_through_its_tokenizer(
    client: CompletionsClient, sent: BodyRecorder
) -> None:
    """A word bias is tokenized by llama-server (bare and with a space) and bans the word."""
    assert "France" in await greedy(client, CAPITAL, 3)
    result = await complete(
        client, prompt=CAPITAL, max_tokens=3, temperature=0, logit_bias_words={"France": -100}
    )
    assert "France" not in result.choices[0].text
    assert result.warnings == []
    tokenized = sent.bodies("/tokenize")
    assert [b["content"] for b in tokenized] == ["France", " France"]
    assert all(b["add_special"] is False for b in tokenized)
    bias = sent.bodies()[-1]["logit_bias"]
    assert len(bias) == 2 and set(bias.values()) == {-100}


async def test_suffix_is_refused_before_any_request(
    client: CompletionsClient, sent: BodyRecorder
) -> None:
    """suffix is refused with the reason (llama-server's fill-in-the-middle is /infill)."""
    with pytest.raises(UnsupportedParameter) as info:
        await complete(client, prompt=CAPITAL, suffix=" and that is all.")
    assert "/infill" in str(info.value)
    assert sent.bodies() == []
