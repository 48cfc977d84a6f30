"""The parameter table itself: the API's ranges and defaults, and texts that fit Discord."""

from __future__ import annotations

from bot.completions import BOT_DEFAULTS, GENERATION_PARAMS, PARAMETERS, SERVER_DEFAULT_PARAMS


def test_ranges_and_defaults_are_the_apis() -> None:
    """Ranges and API defaults as in OpenAI's CreateCompletionRequest, narrowed where noted."""
    expected = {
        # name: (low, high, API default)
        "max_tokens": (0, 65536, 16),  # the API has no top; ours is max_tokens_limit's top
        "temperature": (0, 2, 1),
        "top_p": (0, 1, 1),
        "n": (1, 128, 1),
        "best_of": (1, 20, 1),  # the API allows 0, which generates nothing to pick from
        "logprobs": (0, 20, None),  # OpenAI 5, vLLM 20: each backend profile narrows it
        "presence_penalty": (-2, 2, 0),
        "frequency_penalty": (-2, 2, 0),
        "seed": (0, 4294967294, None),  # llama.cpp: uint32, and 0xFFFFFFFF means random
    }
    numeric = {n: (s.low, s.high, s.api_default) for n, s in PARAMETERS.items() if s.is_numeric}
    assert numeric == expected
    assert PARAMETERS["echo"].api_default is False
    assert dict(BOT_DEFAULTS) == {"max_tokens": 256}


def test_every_parameter_of_the_api_is_in_the_table() -> None:
    """The table lists the API's request fields (but stream_options, which the client sets)."""
    api = {
        "model", "prompt", "suffix", "max_tokens", "temperature", "top_p", "n", "stream",
        "logprobs", "echo", "stop", "presence_penalty", "frequency_penalty", "best_of",
        "logit_bias", "user", "seed",
    }  # fmt: skip
    assert set(PARAMETERS) == api
    assert set(GENERATION_PARAMS) == api - {"prompt", "stream", "user"}
    assert set(SERVER_DEFAULT_PARAMS) <= set(GENERATION_PARAMS)


def test_texts_fit_and_say_the_range() -> None:
    """Descriptions fit Discord's 100 characters and name the range people may use."""
    for spec in PARAMETERS.values():
        assert 1 <= len(str(spec.description)) <= 100, spec.name
        if spec.is_numeric:
            assert f"{spec.low} to {spec.high}" in str(spec.description)
            assert f"{spec.low} to {spec.high}" in str(spec.allowed)
    assert str(PARAMETERS["temperature"].allowed) == "a number from 0 to 2"
    assert str(PARAMETERS["n"].allowed) == "a whole number from 1 to 128"
    assert str(PARAMETERS["max_tokens"].description) == (
        "Most tokens to generate (0 to 65536, API default 16, bot default 256)"
    )
