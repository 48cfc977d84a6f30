"""Reading the backends' answers: each server's variations become one typed shape."""

from __future__ import annotations

import math

import pytest

from bot.completions import LogProbs, Usage
from bot.completions.wire import (
    CompletionResponse,
    ModelList,
    StreamEvent,
    TokenizeResponse,
    WireUsage,
    read,
)
from bot.errors import MalformedResponse


def response(choice: dict, **extra: object) -> CompletionResponse:
    return read(
        CompletionResponse, {"id": "c", "created": 1, "choices": [choice], **extra}, "a completion"
    )


@pytest.mark.parametrize(
    ("sent", "read_as"),
    [
        ("eos_token", "stop"),  # TGI
        ("stop_sequence", "stop"),  # TGI
        ("length", "length"),
        ("max_tokens", "length"),
        ("stop", "stop"),
        ("content_filter", "content_filter"),
        ("abort", "abort"),  # unknown reasons are kept, not dropped
        (None, None),
        ("", None),
    ],
)
def test_finish_reasons_are_the_apis(sent: str | None, read_as: str | None) -> None:
    """TGI's eos_token / stop_sequence and other spellings read as the API's values."""
    choice = response({"index": 0, "text": "x", "finish_reason": sent}).choices[0]
    assert choice.finish_reason == read_as


def test_legacy_logprobs_with_nan_and_list_style_alternatives() -> None:
    """Legacy logprobs keep their offsets; NaN becomes None; {token, logprob} lists become dicts."""
    wire = response(
        {
            "index": 0,
            "text": " a b",
            "logprobs": {
                "tokens": [" a", " b"],
                "token_logprobs": [-0.5, math.nan],
                "top_logprobs": [[{"token": " a", "logprob": -0.5}], None],
                "text_offset": [5, 7],
            },
        }
    )
    choice = wire.choices[0].to_choice(start_offset=0)
    assert choice.logprobs == LogProbs(
        tokens=[" a", " b"],
        token_logprobs=[-0.5, None],
        top_logprobs=[{" a": -0.5}, None],
        text_offset=[5, 7],
    )


def test_llama_cpp_chat_style_logprobs_become_the_legacy_shape() -> None:
    """llama.cpp's {"content": [...]} becomes parallel lists with offsets after the prompt."""
    wire = response(
        {
            "index": 0,
            "text": "Hi there",
            "logprobs": {
                "content": [
                    {
                        "id": 1,
                        "token": "Hi",
                        "bytes": [72, 105],
                        "logprob": -0.1,
                        "top_logprobs": [
                            {"id": 1, "token": "Hi", "logprob": -0.1},
                            {"id": 2, "token": "Hello", "logprob": -2.3},
                        ],
                    },
                    {"id": 3, "token": " there", "logprob": -0.7, "top_logprobs": []},
                ]
            },
        }
    )
    logprobs = wire.choices[0].to_choice(start_offset=10).logprobs
    assert logprobs == LogProbs(
        tokens=["Hi", " there"],
        token_logprobs=[-0.1, -0.7],
        top_logprobs=[{"Hi": -0.1, "Hello": -2.3}, {}],
        text_offset=[10, 12],
    )


def test_short_logprob_lists_are_padded_and_offsets_recomputed() -> None:
    """Short token_logprobs / top_logprobs lists are padded with None; offsets are recomputed."""
    wire = response({"text": "ab", "logprobs": {"tokens": ["a", "b"], "token_logprobs": [-1.0]}})
    logprobs = wire.choices[0].to_choice(start_offset=3).logprobs
    assert logprobs is not None
    assert logprobs.token_logprobs == [-1.0, None]
    assert logprobs.top_logprobs == [None, None]
    assert logprobs.text_offset == [3, 4]


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (None, Usage()),
        (
            {"prompt_tokens": 3, "completion_tokens": 4},
            Usage(prompt_tokens=3, completion_tokens=4, total_tokens=7),
        ),
        (
            {"completion_tokens": 4, "total_tokens": None},
            Usage(completion_tokens=4, total_tokens=4),
        ),
        (
            {
                "prompt_tokens": 1,
                "completion_tokens": 2,
                "total_tokens": 3,
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
            Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3),
        ),
    ],
    ids=["missing", "no-total", "partial", "with-details"],
)
def test_usage_missing_or_partial(usage: dict | None, expected: Usage) -> None:
    """Missing usage is zero, a missing total is the sum, extra detail objects are ignored."""
    extra = {} if usage is None else {"usage": usage}
    assert response({"text": "x"}, **extra).to_usage() == expected


def test_extra_fields_and_numeric_ids_are_tolerated() -> None:
    """vLLM's stop_reason, system_fingerprint, a numeric id and a float created all read."""
    wire = read(
        CompletionResponse,
        {
            "id": 123,
            "object": "text_completion",
            "created": 1700000000.0,
            "model": "m",
            "system_fingerprint": "fp",
            "choices": [{"index": None, "text": "x", "stop_reason": None, "logprobs": None}],
        },
        "a completion",
    )
    assert (wire.id, wire.created, wire.choices[0].index) == ("123", 1700000000, 0)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"choices": [{"text": None}]}, "choices.0.text"),
        ({"choices": [{"text": "x", "logprobs": "yes"}]}, "choices.0.logprobs"),
        ({"object": "text_completion"}, "choices"),
        (["not", "an", "object"], "the answer"),
    ],
)
def test_answers_that_do_not_fit_are_malformed(data: object, fragment: str) -> None:
    """What cannot be read raises MalformedResponse naming where it went wrong."""
    with pytest.raises(MalformedResponse) as info:
        read(CompletionResponse, data, "a completion")
    assert info.value.message.startswith("The backend sent a completion Couplet cannot read (")
    assert fragment in info.value.message


def test_stream_event_with_only_usage() -> None:
    """The last stream event may carry usage and an empty choices list."""
    event = read(
        StreamEvent, {"choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 2}}, "x"
    )
    assert event.choices == []
    assert isinstance(event.usage, WireUsage)
    assert event.usage.to_usage() == Usage(prompt_tokens=2, completion_tokens=2, total_tokens=4)


def test_model_list_and_token_lists() -> None:
    """Model ids read from `data`; token lists may be ids or llama.cpp's {id, piece} objects."""
    models = read(ModelList, {"object": "list", "data": [{"id": "a", "owned_by": "me"}]}, "x")
    assert [m.id for m in models.data] == ["a"]
    with pytest.raises(MalformedResponse):
        read(ModelList, {"models": []}, "a model list")
    tokens = read(TokenizeResponse, {"tokens": [5, {"id": 7, "piece": "x"}]}, "a token list")
    assert tokens.ids() == [5, 7]
