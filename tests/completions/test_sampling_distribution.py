"""The API's sampling semantics on the real llama.cpp-family servers with Gemma 3 270M.

For a prompt, the first token's odds are asked once (logprobs, at temperature
0: the listed odds are the model's own, before any sampler); then one-token
samples are drawn with seeds 0, 1, 2, … (emulated `n`, without logprobs,
which make this model ~10× slower) and compared with those odds by Pearson's
chi-square test. With the servers' own samplers switched off (`sampling`
api, the default) the samples must fit; with them on (`server`: llama.cpp's
top_k 40 and min_p 0.05) the same test must fail, so it can tell the two apart.

Runs on the bundled llama-cpp-python server and on llama.cpp's own llama-server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.completions import CompletionRequest, CompletionsClient
from bot.services.sampling_math import NextToken, picture
from tests.support.goodness_of_fit import chi_square_sf, fit_p_value

# Fixture of each server, by the profile Couplet detects for it.
SERVERS = {"llama-cpp-python": "local_model_url", "llamacpp": "llamacpp_url"}
# A wide first token: the five likeliest hold ~42%; min_p 0.05 keeps only ~49%.
WIDE = "The"
# Two tokens hold the first ~81% (" of" ~43%, "," ~38%): top_p 0.5 keeps both.
TWO_LIKELY = "In the beginning"
# " France" holds ~70%, so top_p 0.5 keeps it alone when cut at temperature 1.
CAPITAL = "Paris is the capital of"
SAMPLES = 200
# A fit worse than this has a 1-in-1000 chance when the samples do follow the odds.
ALPHA = 0.001


@pytest.fixture(params=sorted(SERVERS))
async def client(request: pytest.FixtureRequest) -> AsyncIterator[CompletionsClient]:
    """A client for one real server, in auto mode: it must detect the server itself."""
    url = request.getfixturevalue(SERVERS[request.param])
    async with CompletionsClient(url) as c:
        assert (await c.profile()).name == request.param
        yield c


async def first_token_odds(client: CompletionsClient, prompt: str) -> NextToken:
    """The next token's listed odds (as many as the backend allows); warms the prompt cache."""
    top = (await client.profile()).max_logprobs
    req = CompletionRequest.build(prompt=prompt, max_tokens=1, temperature=0, logprobs=top)
    logprobs = (await client.complete(req)).choices[0].logprobs
    assert logprobs is not None and logprobs.top_logprobs[0]
    return NextToken.from_top_logprobs(logprobs.top_logprobs[0], limit=top)


async def draw(
    client: CompletionsClient, prompt: str, count: int = SAMPLES, **params: object
) -> list[str]:
    """`count` one-token samples with seeds 0 … count - 1 (emulated n, 100 at a time)."""
    samples: list[str] = []
    for start in range(0, count, 100):
        req = CompletionRequest.build(
            prompt=prompt, max_tokens=1, n=min(100, count - start), seed=start, **params
        )
        samples.extend(choice.text for choice in (await client.complete(req)).choices)
    return samples


def test_chi_square_tail_matches_known_quantiles() -> None:
    """The tail function gives the textbook 5% and 0.1% points."""
    for x, df, p in ((3.841, 1, 0.05), (5.991, 2, 0.05), (11.070, 5, 0.05), (20.515, 5, 0.001)):
        assert chi_square_sf(x, df) == pytest.approx(p, rel=1e-3)


async def test_samples_follow_the_models_odds_only_when_its_samplers_are_off(
    client: CompletionsClient,
) -> None:
    """temperature 1, top_p 1: samples fit the model's odds; with the server's top_k/min_p on
    (sampling server) the unlikely tokens never come out and the same test fails."""
    odds = await first_token_odds(client, WIDE)
    expected = picture(odds, 1.0, 1.0).sampling
    assert expected.other > 0.3  # much of the mass is below min_p's cut: the test can see it

    api = await draw(client, WIDE, temperature=1, top_p=1)
    assert fit_p_value(api, odds.tokens, expected) >= ALPHA

    server = await draw(client, WIDE, temperature=1, top_p=1, sampling="server")
    assert fit_p_value(server, odds.tokens, expected) < ALPHA
    unlisted = [s for s in server if s not in odds.tokens]
    assert len(unlisted) < len([s for s in api if s not in odds.tokens])


async def test_top_p_half_samples_only_inside_the_nucleus(client: CompletionsClient) -> None:
    """top_p 0.5: every sample is one of the tokens the nucleus keeps, each of them comes out,
    in proportion to its odds."""
    odds = await first_token_odds(client, TWO_LIKELY)
    pic = picture(odds, 1.0, 0.5)
    assert pic.nucleus.count == 2 and not pic.nucleus.includes_other
    kept = set(odds.tokens[: pic.nucleus.count])

    samples = await draw(client, TWO_LIKELY, temperature=1, top_p=0.5)
    assert set(samples) == kept
    assert fit_p_value(samples, odds.tokens, pic.sampling) >= ALPHA


async def test_top_p_is_cut_in_the_order_the_profile_says(client: CompletionsClient) -> None:
    """At temperature 2 the order matters: cut at temperature 1 (these servers' order, as
    their profiles say), top_p 0.5 keeps " France" alone; cut after the temperature it would
    keep more. Without top_p the same seeds do draw other tokens."""
    profile = await client.profile()
    assert profile.top_p_before_temperature
    odds = await first_token_odds(client, CAPITAL)
    profile_order = picture(odds, 2.0, 0.5, top_p_before_temperature=True).nucleus
    other_order = picture(odds, 2.0, 0.5, top_p_before_temperature=False).nucleus
    assert (profile_order.count, profile_order.includes_other) == (1, False)
    assert other_order.count > 1 or other_order.includes_other

    cut = await draw(client, CAPITAL, 50, temperature=2, top_p=0.5)
    assert set(cut) == {odds.tokens[0]}
    free = await draw(client, CAPITAL, 50, temperature=2, top_p=1)
    assert len(set(free)) > 1
