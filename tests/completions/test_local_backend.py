"""Every parameter's effect on the real llama-cpp-python server with Gemma 3 270M.

The server runs one request at a time and logprobs make it ~10x slower, so
max_tokens stays small (≤ 16, ≤ 8 with logprobs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.completions import CompletionRequest, CompletionsClient
from bot.completions.logit_bias import Tokenizer
from bot.errors import BackendError, UnsupportedParameter
from tests.support.recording import BodyRecorder

CAPITAL = "Paris is the capital of"
DAYS = "Monday, Tuesday, Wednesday,"
STORY = "Once upon a time"


@pytest.fixture
async def client(local_model_url: str) -> AsyncIterator[CompletionsClient]:
    """A client in auto mode, so detection is exercised too."""
    async with CompletionsClient(local_model_url) as c:
        yield c


async def complete(client: CompletionsClient, **kwargs):
    return await client.complete(CompletionRequest.build(**kwargs))


async def warm(client: CompletionsClient, prompt: str) -> None:
    """Put `prompt` (plus generated tokens) in llama-cpp-python's prompt cache.

    A cold prompt is evaluated in one batch; a cached one is reused and only
    its last token evaluated again. The numbers differ slightly, enough to
    change even a greedy continuation, so repeatability is compared between
    requests that both start from the cached state. Two tokens, so the cache
    holds more than the prompt, as it does after every later request.
    """
    await complete(client, prompt=prompt, max_tokens=2, temperature=0)


async def test_detected_as_llama_cpp_python(client: CompletionsClient) -> None:
    """Auto-detection recognises the local server and lists the model alias."""
    assert (await client.profile()).name == "llama-cpp-python"
    assert await client.list_models() == ["gemma-3-270m"]


async def test_n_gives_three_choices(client: CompletionsClient) -> None:
    """n=3 gives three choices (emulated: the server itself would return one)."""
    result = await complete(client, prompt=STORY, n=3, max_tokens=8, temperature=1, seed=3)
    assert [c.index for c in result.choices] == [0, 1, 2]
    assert all(c.text for c in result.choices)
    # Each emulated request gets its own seed (3, 4, 5), so the samples are not one text thrice.
    assert len({c.text for c in result.choices}) > 1
    assert result.emulated == ["n"]
    assert 3 <= result.usage.completion_tokens <= 24


async def test_echo_starts_with_prompt(client: CompletionsClient) -> None:
    """echo returns the prompt followed by the completion."""
    result = await complete(client, prompt=CAPITAL, echo=True, max_tokens=3, temperature=0)
    text = result.choices[0].text
    assert text.startswith(CAPITAL)
    assert len(text) > len(CAPITAL)


async def test_stop_cuts_at_the_first_stop(client: CompletionsClient) -> None:
    """With two stops, the text ends right before whichever occurs first."""
    await warm(client, DAYS)
    baseline = (await complete(client, prompt=DAYS, max_tokens=12, temperature=0)).choices[0].text
    early, late = baseline[6:10], baseline[14:18]
    cut = min(baseline.find(early), baseline.find(late))
    assert 0 < cut < len(baseline)
    result = await complete(client, prompt=DAYS, max_tokens=12, temperature=0, stop=[late, early])
    assert result.choices[0].text == baseline[:cut]
    assert result.choices[0].finish_reason == "stop"


async def test_logprobs_two_alternatives_per_token(client: CompletionsClient) -> None:
    """logprobs=2 gives the legacy shape with two alternatives per generated token."""
    result = await complete(client, prompt=CAPITAL, logprobs=2, max_tokens=4, temperature=0)
    choice = result.choices[0]
    lp = choice.logprobs
    assert lp is not None
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset)
    assert "".join(lp.tokens) == choice.text
    assert lp.text_offset[0] == len(CAPITAL)
    assert lp.text_offset == sorted(lp.text_offset)
    for token, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, strict=True):
        assert top is not None and len(top) == 2
        assert logprob is not None and logprob <= 0
        # Greedy: the sampled token is the most likely alternative.
        assert max(top, key=top.__getitem__) == token


async def test_bias_against_most_likely_token_changes_it(client: CompletionsClient) -> None:
    """A -100 bias on the greedy next token makes the model choose another."""
    first = (await complete(client, prompt=CAPITAL, max_tokens=1, temperature=0)).choices[0].text
    profile = await client.profile()
    ids = await Tokenizer(client.http, profile, "gemma-3-270m").tokenize(first)
    assert len(ids) == 1
    biased = await complete(
        client, prompt=CAPITAL, max_tokens=1, temperature=0, logit_bias={str(ids[0]): -100}
    )
    assert biased.choices[0].text != first


async def test_word_logit_bias_through_real_tokenizer(local_model_url: str) -> None:
    """A word bias is tokenized by the server (bare and with a space) and bans the word."""
    transport = BodyRecorder()
    async with CompletionsClient(local_model_url, transport=transport) as client:
        baseline = (await complete(client, prompt=CAPITAL, max_tokens=3, temperature=0)).choices[0]
        assert "France" in baseline.text
        result = await complete(
            client, prompt=CAPITAL, max_tokens=3, temperature=0, logit_bias_words={"France": -100}
        )
    assert "France" not in result.choices[0].text
    assert result.warnings == []
    asked = [body["input"] for path, body in transport.sent if path == "/extras/tokenize"]
    # "" first: what the server adds to any text (BOS) is learnt and dropped from the ids.
    assert asked == ["", "France", " France"]
    biased = [body for path, body in transport.sent if path == "/v1/completions"][-1]
    # One id for each spelling (the two differ), each at -100.
    assert len(biased["logit_bias"]) == 2
    assert set(biased["logit_bias"].values()) == {-100}


async def test_word_splitting_into_pieces_warns(client: CompletionsClient) -> None:
    """A word the tokenizer splits into several pieces comes back with a warning."""
    word = "Zyxquorbly"
    result = await complete(
        client, prompt=CAPITAL, max_tokens=1, temperature=0, logit_bias_words={word: -5}
    )
    assert result.warnings and f"{word!r} is" in str(result.warnings[0])


async def test_temperature_zero_is_repeatable(client: CompletionsClient) -> None:
    """temperature=0 gives the same text twice (from the same prompt-cache state)."""
    await warm(client, STORY)
    texts = [
        (await complete(client, prompt=STORY, max_tokens=12, temperature=0)).choices[0].text
        for _ in range(2)
    ]
    assert texts[0] == texts[1] and texts[0]


async def test_same_seed_same_sample(client: CompletionsClient) -> None:
    """At temperature 1, the same seed gives the same sample and another seed a different one."""
    await warm(client, STORY)
    runs = [
        (await complete(client, prompt=STORY, max_tokens=12, temperature=1, seed=s)).choices[0].text
        for s in (1234, 1234, 99)
    ]
    assert runs[0] == runs[1]
    assert runs[2] != runs[0]


async def test_best_of_returns_highest_mean_logprob(client: CompletionsClient) -> None:
    """best_of=3, n=1 returns the candidate with the highest mean generated-token logprob."""
    result = await complete(
        client, prompt=STORY, best_of=3, n=1, max_tokens=4, temperature=1.5, seed=21
    )
    assert len(result.candidates) == 3
    assert len({c.text for c in result.candidates}) > 1
    recomputed = []
    for candidate in result.candidates:
        assert candidate.logprobs is not None
        values = [v for v in candidate.logprobs.token_logprobs if v is not None]
        mean = sum(values) / len(values)
        assert candidate.mean_logprob == pytest.approx(mean)
        recomputed.append((mean, candidate.text))
    [chosen] = result.choices
    assert chosen.text == max(recomputed)[1]
    assert chosen.rank == 1 and chosen.mean_logprob == pytest.approx(max(recomputed)[0])
    assert chosen.logprobs is None  # logprobs were not asked for
    assert "best_of" in result.emulated


@pytest.mark.parametrize("max_tokens", [2, 5])
async def test_max_tokens_bounds_completion_tokens(
    client: CompletionsClient, max_tokens: int
) -> None:
    """A story cut by max_tokens stops for length with exactly that many completion tokens."""
    result = await complete(client, prompt=STORY, max_tokens=max_tokens, temperature=0)
    assert result.choices[0].finish_reason == "length"
    assert result.usage.completion_tokens == max_tokens


async def test_tiny_top_p_samples_only_the_most_likely_token(client: CompletionsClient) -> None:
    """top_p=0.01 at temperature 1.5 keeps only the top token: every seed gives the greedy text."""
    await warm(client, STORY)
    greedy = (await complete(client, prompt=STORY, max_tokens=8, temperature=0)).choices[0].text
    wide = [
        (await complete(client, prompt=STORY, max_tokens=8, temperature=1.5, seed=s))
        .choices[0]
        .text
        for s in (1, 2)
    ]
    narrow = [
        (await complete(client, prompt=STORY, max_tokens=8, temperature=1.5, top_p=0.01, seed=s))
        .choices[0]
        .text
        for s in (1, 2)
    ]
    assert narrow == [greedy, greedy]
    # Without the nucleus cut, the same seeds and temperature do leave the greedy path.
    assert greedy not in wide or wide[0] != wide[1]


@pytest.mark.parametrize("penalty", ["frequency_penalty", "presence_penalty"])
async def test_penalty_changes_repetitive_continuation(
    client: CompletionsClient, penalty: str
) -> None:
    """A strong penalty breaks the model's repetition of "I like apples."

    The server's own repeat_penalty is off (sampling api), so only the
    requested penalty acts; llama-cpp-python counts the generated tokens.
    """
    prompt = "I like apples. I like"
    plain = (await complete(client, prompt=prompt, max_tokens=12, temperature=0)).choices[0].text
    penalised = (
        (await complete(client, prompt=prompt, max_tokens=12, temperature=0, **{penalty: 2}))
        .choices[0]
        .text
    )
    assert penalised != plain
    assert penalised.split().count("like") < plain.split().count("like")


async def test_stream_matches_complete(client: CompletionsClient) -> None:
    """Streaming yields several deltas that add up to the non-streamed greedy text."""
    await warm(client, DAYS)
    whole = (await complete(client, prompt=DAYS, max_tokens=10, temperature=0)).choices[0].text
    deltas = [
        d
        async for d in client.stream(
            CompletionRequest.build(prompt=DAYS, max_tokens=10, temperature=0, stream=True)
        )
    ]
    assert len(deltas) > 1
    assert "".join(deltas) == whole


async def test_stream_with_stop_and_echo(client: CompletionsClient) -> None:
    """Streaming with echo starts with the prompt and stops before the stop sequence."""
    await warm(client, DAYS)
    whole = (await complete(client, prompt=DAYS, max_tokens=10, temperature=0)).choices[0].text
    stop = whole[8:12]
    req = CompletionRequest.build(
        prompt=DAYS, max_tokens=10, temperature=0, stream=True, echo=True, stop=[stop]
    )
    stream = client.stream(req)
    text = "".join([d async for d in stream])
    assert text == DAYS + whole[: whole.find(stop)]
    assert stream.finish_reason == "stop"


async def test_suffix_refused_before_any_generation(client: CompletionsClient) -> None:
    """suffix is refused on llama-cpp-python with the reason, not sent."""
    with pytest.raises(UnsupportedParameter) as info:
        await complete(client, prompt=CAPITAL, suffix=" and that is all.")
    assert "fill-in-the-middle" in str(info.value)


async def test_stream_over_the_context_raises(client: CompletionsClient) -> None:
    """A prompt over the 2048-token context, streamed, raises instead of ending as empty text.

    llama-cpp-python answers 200 and closes the event stream without a word.
    """
    prompt = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(3000))
    with pytest.raises(BackendError) as info:
        async for _ in client.stream(CompletionRequest.build(prompt=prompt, max_tokens=4)):
            pass
    assert "ended the stream without any text" in info.value.message
