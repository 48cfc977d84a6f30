"""CompletionRequest.build: one clear sentence for every bad parameter."""

from __future__ import annotations

import pytest

from bot.completions import CompletionRequest
from bot.errors import ParameterError


@pytest.mark.parametrize(
    ("kwargs", "param", "sentence"),
    [
        (
            {"temperature": 3.5},
            "temperature",
            "temperature 3.5 is out of range: use a number from 0 to 2.",
        ),
        (
            {"temperature": "hot"},
            "temperature",
            "temperature 'hot' is not a number: use a number from 0 to 2.",
        ),
        ({"top_p": 1.5}, "top_p", "top_p 1.5 is out of range: use a number from 0 to 1."),
        ({"n": 0}, "n", "n 0 is out of range: use a whole number from 1 to 128."),
        ({"n": 129}, "n", "n 129 is out of range: use a whole number from 1 to 128."),
        ({"n": 2.5}, "n", "n 2.5 is not a whole number: use a whole number from 1 to 128."),
        (
            {"max_tokens": -1},
            "max_tokens",
            "max_tokens -1 is out of range: use a whole number from 0 to 65536.",
        ),
        (
            {"max_tokens": 65537},
            "max_tokens",
            "max_tokens 65537 is out of range: use a whole number from 0 to 65536.",
        ),
        (
            {"logprobs": 21},
            "logprobs",
            "logprobs 21 is out of range: use a whole number from 0 to 20.",
        ),
        (
            {"presence_penalty": -3},
            "presence_penalty",
            "presence_penalty -3 is out of range: use a number from -2 to 2.",
        ),
        (
            {"frequency_penalty": "x"},
            "frequency_penalty",
            "frequency_penalty 'x' is not a number: use a number from -2 to 2.",
        ),
        (
            {"best_of": 25},
            "best_of",
            "best_of 25 is out of range: use a whole number from 1 to 20.",
        ),
        (
            {"n": 3, "best_of": 2},
            "best_of",
            "best_of 2 is less than n 3: use a best_of from 3 to 20, or leave it out.",
        ),
        (
            {"stream": True, "best_of": 2},
            "best_of",
            "best_of cannot be used with stream: the candidates are compared only once they "
            "are complete.",
        ),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "stop has 5 sequences: use 1 to 4."),
        (
            {"stop": ["a", ""]},
            "stop",
            "stop has an empty sequence: every stop sequence needs at least one character.",
        ),
        (
            {"logit_bias": {"abc": 1}},
            "logit_bias",
            "logit_bias key 'abc' is not a token id: use whole-number token ids such as "
            '{"50256": -100}, or word=bias pairs such as hello=-100.',
        ),
        (
            {"logit_bias": {"50256": 101}},
            "logit_bias",
            "logit_bias value 101 for token 50256 is not allowed: use a whole number from -100 "
            "to 100.",
        ),
        (
            {"logit_bias_words": {"cat": -101}},
            "logit_bias",
            "logit_bias value -101 for 'cat' is not allowed: use a whole number from -100 to 100.",
        ),
        (
            {"seed": "abc"},
            "seed",
            "seed 'abc' is not a whole number: use a whole number from 0 to 4294967294.",
        ),
        ({"seed": -1}, "seed", "seed -1 is out of range: use a whole number from 0 to 4294967294."),
        (
            {"seed": 2**32 - 1},
            "seed",
            "seed 4294967295 is out of range: use a whole number from 0 to 4294967294.",
        ),
        ({"echo": "maybe"}, "echo", "echo 'maybe' is not true or false: use true or false."),
        ({"stream": "nah"}, "stream", "stream 'nah' is not true or false: use true or false."),
        ({"prompt": 5}, "prompt", "prompt 5 is not text: give the prompt as text."),
        ({"suffix": 3}, "suffix", "suffix 3 is not text: give text."),
        ({"user": 7}, "user", "user 7 is not text: give text."),
        ({"model": 1}, "model", "model 1 is not text: give text."),
        ({"top_k": 5}, "top_k", "top_k is not a Completions parameter."),
    ],
)
def test_bad_value_gives_one_sentence(kwargs: dict, param: str, sentence: str) -> None:
    """Each bad value raises ParameterError naming the parameter, the value and what is allowed."""
    kwargs.setdefault("prompt", "Hi")
    with pytest.raises(ParameterError) as info:
        CompletionRequest.build(**kwargs)
    assert info.value.param == param
    assert str(info.value) == sentence
    assert isinstance(info.value, ValueError)


def test_missing_prompt() -> None:
    """A request without a prompt says the prompt is missing."""
    with pytest.raises(ParameterError) as info:
        CompletionRequest.build(temperature=1)
    assert str(info.value) == "prompt is missing: give a value for prompt."


def test_text_values_are_converted() -> None:
    """Values typed as text (as from a CLI or a modal) become numbers and flags."""
    req = CompletionRequest.build(
        prompt="x", temperature="0.7", n="2", seed=" 4294967294 ", echo="true", max_tokens=""
    )
    assert (req.temperature, req.n, req.echo, req.max_tokens) == (0.7, 2, True, None)
    assert req.seed == 4294967294


def test_edges_are_allowed() -> None:
    """The ends of every range are valid."""
    req = CompletionRequest.build(
        prompt="",
        temperature=2,
        top_p=0,
        n=20,
        logprobs=0,
        presence_penalty=-2,
        frequency_penalty=2,
        best_of=20,
        max_tokens=0,
        stop=["a", "b", "c", "d"],
        logit_bias={"0": -100, "7": 100},
    )
    assert (req.temperature, req.top_p, req.n, req.best_of) == (2, 0, 20, 20)
    assert CompletionRequest.build(prompt="x", n=128).n == 128


def test_best_of_equal_to_n_needs_no_extra_candidates() -> None:
    """best_of equal to n is valid and means no ranking is needed."""
    req = CompletionRequest.build(prompt="x", n=3, best_of=3)
    assert not req.wants_best_of
    assert CompletionRequest.build(prompt="x", n=1, best_of=3).wants_best_of
