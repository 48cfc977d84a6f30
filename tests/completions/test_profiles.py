"""What each backend profile sends, emulates and refuses, seen by a loopback server."""

from __future__ import annotations

import pytest

from bot.completions import CompletionRequest, CompletionsClient
from bot.completions.parameters import MAX_SEED
from bot.errors import BackendError, ParameterError, UnsupportedParameter
from tests.completions.fault_server import FaultServer, reply

COMPLETIONS = "/v1/completions"


def build(**kwargs) -> CompletionRequest:
    kwargs.setdefault("prompt", "Once upon a time")
    return CompletionRequest.build(**kwargs)


async def run(fault: FaultServer, backend: str, **kwargs):
    async with CompletionsClient(fault.base_url, backend=backend, default_model="m") as client:
        return await client.complete(build(**kwargs))


async def test_openai_defaults_are_sent_explicitly(fault: FaultServer) -> None:
    """Unset temperature/top_p/max_tokens are sent as OpenAI's 1, 1, 16; best_of 1 is omitted."""
    await run(fault, "openai", best_of=1, user="u-1")
    body = fault.requests()[0].body
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (1.0, 1.0, 16)
    assert "best_of" not in body and "n" not in body
    assert body["user"] == "u-1"


async def test_openai_best_of_and_n_are_native(fault: FaultServer) -> None:
    """On OpenAI best_of and n go to the server in one request."""
    fault.script(COMPLETIONS)
    result = await run(fault, "openai", n=2, best_of=3)
    [seen] = fault.requests()
    assert seen.body["best_of"] == 3 and seen.body["n"] == 2
    assert result.emulated == []
    assert len(result.choices) == 2


async def test_openai_echo_is_native_alone_and_emulated_with_best_of(fault: FaultServer) -> None:
    """echo goes to OpenAI as is; with best_of Couplet adds the prompt itself, exactly once."""
    alone = await run(fault, "openai", echo=True, seed=1)
    assert fault.requests()[0].body["echo"] is True
    assert alone.emulated == []
    assert alone.choices[0].text == "Once upon a time sample 1.0"
    ranked = await run(fault, "openai", echo=True, n=1, best_of=3, seed=1)
    assert "echo" not in fault.requests()[1].body
    assert ranked.emulated == ["echo"]
    assert ranked.choices[0].text == "Once upon a time sample 1.0"


async def test_openai_refuses_words_for_logit_bias(fault: FaultServer) -> None:
    """Words in logit_bias on OpenAI are refused (cl100k_base is offline-only) before any "
    "request."""
    with pytest.raises(UnsupportedParameter) as info:
        await run(fault, "openai", logit_bias_words={"hello": -100})
    assert "cl100k_base" in str(info.value) and "token ids" in str(info.value)
    assert fault.seen == []


async def test_openai_token_id_bias_is_sent(fault: FaultServer) -> None:
    """Token-id logit_bias is sent unchanged."""
    await run(fault, "openai", logit_bias={"50256": -100})
    assert fault.requests()[0].body["logit_bias"] == {"50256": -100}


async def test_vllm_best_of_is_emulated_with_native_n(fault: FaultServer) -> None:
    """vLLM ignores best_of, so candidates come from native n with logprobs and are ranked."""
    result = await run(fault, "vllm", best_of=3, seed=1)
    [seen] = fault.requests()
    assert "best_of" not in seen.body
    assert seen.body["n"] == 3 and seen.body["logprobs"] == 1
    assert result.emulated == ["best_of"]
    assert len(result.choices) == 1 and result.choices[0].rank == 1
    assert result.choices[0].logprobs is None  # not asked for by the user
    best = max(result.candidates, key=lambda c: c.logprobs.mean())
    assert result.choices[0].text == best.text


async def test_vllm_refuses_suffix(fault: FaultServer) -> None:
    """suffix on vLLM is refused with a reason and no request is made."""
    with pytest.raises(UnsupportedParameter) as info:
        await run(fault, "vllm", suffix="The end.")
    assert str(info.value).startswith("suffix is not available on vllm:")
    assert fault.seen == []


async def test_vllm_allows_logprobs_up_to_20(fault: FaultServer) -> None:
    """logprobs 20 is sent to vLLM while OpenAI refuses anything above 5."""
    await run(fault, "vllm", logprobs=20)
    assert fault.requests()[0].body["logprobs"] == 20
    with pytest.raises(ParameterError) as info:
        await run(fault, "openai", logprobs=6)
    assert (
        str(info.value) == "logprobs 6 is out of range on openai: use a whole number from 0 to 5."
    )


async def test_vllm_words_tokenized_without_special_tokens(fault: FaultServer) -> None:
    """vLLM words go through /tokenize with add_special_tokens false, bare and with a space."""
    fault.tokens = {"cat": [11], " cat": [12]}
    await run(fault, "vllm", logit_bias_words={"cat": -50})
    calls = fault.requests("/tokenize")
    assert [c.body["prompt"] for c in calls] == ["cat", " cat"]
    assert all(c.body["add_special_tokens"] is False for c in calls)
    assert fault.requests()[0].body["logit_bias"] == {"11": -50, "12": -50}


async def test_llamacpp_never_gets_best_of_echo_or_n(fault: FaultServer) -> None:
    """llama.cpp gets neither best_of, echo nor n: all three are emulated client-side."""
    fault.chat_logprobs = True
    result = await run(fault, "llamacpp", n=2, best_of=3, echo=True, seed=5)
    seen = fault.requests()
    assert len(seen) == 3
    for s in seen:
        assert not {"best_of", "echo", "n"} & s.body.keys()
    assert [s.body["seed"] for s in seen] == [5, 6, 7]
    assert set(result.emulated) == {"best_of", "echo", "n"}
    assert len(result.choices) == 2
    assert all(c.text.startswith("Once upon a time") for c in result.choices)


async def test_llamacpp_chat_style_logprobs_become_legacy(fault: FaultServer) -> None:
    """llama.cpp's chat-style logprobs are converted to "
    "tokens/token_logprobs/top_logprobs/text_offset."""
    fault.chat_logprobs = True
    result = await run(fault, "llamacpp", logprobs=1, seed=2)
    lp = result.choices[0].logprobs
    assert lp is not None
    assert lp.tokens == [" sample", " 2", ".0"]
    assert len(lp.token_logprobs) == 3 and all(isinstance(v, float) for v in lp.token_logprobs)
    assert [set(t) for t in lp.top_logprobs] == [{" sample"}, {" 2"}, {".0"}]
    prompt_len = len("Once upon a time")
    assert lp.text_offset == [prompt_len, prompt_len + 7, prompt_len + 9]


async def test_llamacpp_words_use_add_special_false(fault: FaultServer) -> None:
    """llama.cpp words go through /tokenize with add_special false."""
    await run(fault, "llamacpp", logit_bias_words={"dog": 3})
    calls = fault.requests("/tokenize")
    assert [c.body["content"] for c in calls] == ["dog", " dog"]
    assert all(c.body["add_special"] is False for c in calls)


async def test_llama_cpp_python_emulates_n_with_distinct_seeds(fault: FaultServer) -> None:
    """llama-cpp-python ignores n: three concurrent requests with seed, seed+1, seed+2."""
    result = await run(fault, "llama-cpp-python", n=3, seed=7)
    seen = fault.requests()
    assert sorted(s.body["seed"] for s in seen) == [7, 8, 9]
    assert all("n" not in s.body for s in seen)
    assert [c.index for c in result.choices] == [0, 1, 2]
    assert result.usage.completion_tokens == 9
    assert result.emulated == ["n"]


async def test_emulated_n_seeds_wrap_within_the_seed_range(fault: FaultServer) -> None:
    """Seeds near the top wrap to 0 instead of reaching 2^32 - 1 (llama.cpp's "random")."""
    top = MAX_SEED - 1
    await run(fault, "llama-cpp-python", n=3, seed=top)
    assert sorted(s.body["seed"] for s in fault.requests()) == [0, top, top + 1]


async def test_llama_cpp_python_drops_bos_from_tokenize(fault: FaultServer) -> None:
    """/extras/tokenize's leading BOS id is dropped before ids become logit_bias keys."""
    fault.tokens = {"Paris": [50429], " Paris": [9079]}
    await run(fault, "llama-cpp-python", logit_bias_words={"Paris": -100})
    assert fault.requests()[0].body["logit_bias"] == {"50429": -100, "9079": -100}


async def test_split_word_gives_a_warning(fault: FaultServer) -> None:
    """A word that tokenizes into several pieces biases each and adds a warning."""
    fault.tokens = {"Parisian": [1, 2, 3], " Parisian": [4, 5]}
    result = await run(fault, "vllm", logit_bias_words={"Parisian": -10})
    assert fault.requests()[0].body["logit_bias"] == {str(i): -10 for i in (1, 2, 3, 4, 5)}
    assert result.warnings and "'Parisian' is 3 tokens" in str(result.warnings[0])


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [({"suffix": "x"}, "suffix"), ({"max_tokens": 0}, "max_tokens")],
)
async def test_llama_cpp_python_refusals(fault: FaultServer, kwargs: dict, param: str) -> None:
    """suffix (broken FIM) and max_tokens 0 (means unlimited there) are refused up front."""
    with pytest.raises((UnsupportedParameter, ParameterError)) as info:
        await run(fault, "llama-cpp-python", **kwargs)
    assert info.value.param == param
    assert "llama-cpp-python" in str(info.value)
    assert fault.seen == []


@pytest.mark.parametrize(
    ("backend", "kwargs", "param"),
    [
        ("ollama", {"logprobs": 1}, "logprobs"),
        ("ollama", {"logit_bias": {"1": 5}}, "logit_bias"),
        ("ollama", {"logit_bias_words": {"hi": 5}}, "logit_bias"),
        ("ollama", {"best_of": 2}, "best_of"),
        ("tgi", {"presence_penalty": 1.0}, "presence_penalty"),
        ("tgi", {"logprobs": 0}, "logprobs"),
        ("tgi", {"suffix": "x"}, "suffix"),
        ("tgi", {"logit_bias": {"1": 5}}, "logit_bias"),
    ],
)
async def test_ollama_and_tgi_refusals(
    fault: FaultServer, backend: str, kwargs: dict, param: str
) -> None:
    """What Ollama/TGI would silently ignore is refused with a sentence, before any request."""
    with pytest.raises(UnsupportedParameter) as info:
        await run(fault, backend, **kwargs)
    assert info.value.param == param
    assert str(info.value).startswith(f"{param} is not available on {backend}:")
    assert str(info.value).endswith(".")
    assert fault.seen == []


async def test_ollama_best_of_message(fault: FaultServer) -> None:
    """The best_of refusal on Ollama says why, in the contract's words."""
    with pytest.raises(UnsupportedParameter) as info:
        await run(fault, "ollama", best_of=3)
    assert (
        str(info.value)
        == "best_of is not available on ollama: it returns no logprobs to rank candidates with."
    )


async def test_ollama_emulates_n_and_echo(fault: FaultServer) -> None:
    """Ollama gets n=1 requests without echo; the client fans out and prepends the prompt."""
    result = await run(fault, "ollama", n=2, echo=True)
    seen = fault.requests()
    assert len(seen) == 2 and all("echo" not in s.body and "n" not in s.body for s in seen)
    assert all(c.text.startswith("Once upon a time sample") for c in result.choices)


async def test_tgi_omits_top_p_one_and_normalises_finish_reason(fault: FaultServer) -> None:
    """TGI never gets top_p 1 (it 422s), does get top_p 0.5, and eos_token becomes stop."""
    body = {
        "id": "x",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "text": "hi", "finish_reason": "eos_token"}],
    }
    fault.script(COMPLETIONS, reply(200, body))
    result = await run(fault, "tgi")
    assert "top_p" not in fault.requests()[0].body
    assert result.choices[0].finish_reason == "stop"
    await run(fault, "tgi", top_p=0.5)
    assert fault.requests()[1].body["top_p"] == 0.5


async def test_server_refusing_anyway_is_surfaced(fault: FaultServer) -> None:
    """When a server 4xxs a parameter the profile thought fine, its own message reaches the user."""
    fault.script(
        COMPLETIONS,
        reply(
            400,
            {
                "error": {
                    "message": "Unsupported param: stop",
                    "type": "invalid_request_error",
                    "code": 400,
                }
            },
        ),
    )
    with pytest.raises(BackendError) as info:
        await run(fault, "llamacpp", stop=["x"])
    assert "Unsupported param: stop" in info.value.message


async def test_missing_logprobs_are_an_error_not_silence(fault: FaultServer) -> None:
    """If a server returns no logprobs although they were asked for, the client says so."""
    body = {
        "id": "x",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "text": "hi", "logprobs": None, "finish_reason": "length"}],
    }
    fault.script(COMPLETIONS, reply(200, body))
    with pytest.raises(BackendError) as info:
        await run(fault, "vllm", logprobs=2)
    assert "no logprobs" in info.value.message


async def test_client_side_stop_is_a_safety_net(fault: FaultServer) -> None:
    """A stop the server did not honour is cut client-side and finish_reason becomes stop."""
    result = await run(fault, "vllm", stop=[" 0"], seed=0)
    assert fault.requests()[0].body["stop"] == [" 0"]
    assert result.choices[0].text == " sample"
    assert result.choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    ("owned_by", "expected"),
    [
        ("vllm", "vllm"),
        ("llamacpp", "llamacpp"),
        ("me", "llama-cpp-python"),
        ("library", "ollama"),
        ("openai", "openai"),
        ("someone", "an undetected backend"),
    ],
)
async def test_auto_detection_from_models(owned_by: str, expected: str) -> None:
    """`backend=auto` picks the profile from /v1/models owned_by, with a cautious fallback."""
    server = FaultServer(owned_by=owned_by)
    await server.start()
    try:
        async with CompletionsClient(server.base_url) as client:
            assert (await client.profile()).name == expected
            assert await client.list_models() == ["fault-model"]
        assert len(server.requests("/v1/models")) == 1  # cached
    finally:
        await server.stop()


async def test_generic_fallback_emulates_n(fault: FaultServer) -> None:
    """On an undetected server n is emulated, since many servers silently ignore it."""
    async with CompletionsClient(fault.base_url) as client:
        result = await client.complete(build(n=2))
    assert len(fault.requests()) == 2 and len(result.choices) == 2


async def test_tgi_detected_from_info(fault: FaultServer) -> None:
    """A server whose owner is unknown but whose /info looks like TGI's gets the tgi profile."""
    info = {
        "model_id": "bigscience/bloom",
        "max_total_tokens": 2048,
        "router": "text-generation-router",
    }
    fault.script("/info", reply(200, info))
    async with CompletionsClient(fault.base_url) as client:
        assert (await client.profile()).name == "tgi"


async def test_ollama_detected_from_api_version(fault: FaultServer) -> None:
    """A server answering Ollama's /api/version gets the ollama profile."""
    fault.script("/api/version", reply(200, {"version": "0.12.0"}))
    async with CompletionsClient(fault.base_url) as client:
        assert (await client.profile()).name == "ollama"


async def test_silently_shortened_max_tokens_gives_a_warning(fault: FaultServer) -> None:
    """A length stop before max_tokens (context clamp) is reported, not hidden."""
    body = {
        "id": "x",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "text": "hi there", "finish_reason": "length"}],
        "usage": {"prompt_tokens": 2040, "completion_tokens": 8, "total_tokens": 2048},
    }
    fault.script(COMPLETIONS, reply(200, body))
    result = await run(fault, "llama-cpp-python", max_tokens=100)
    assert [str(warning) for warning in result.warnings] == [
        "The backend stopped after 8 tokens, fewer than max_tokens 100: the prompt and "
        "max_tokens do not fit its context size."
    ]


NEUTRAL = {
    "llamacpp": {"top_k": 0, "min_p": 0.0, "typical_p": 1.0, "repeat_penalty": 1.0},
    "llama-cpp-python": {"top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0, "mirostat_mode": 0},
    "vllm": {"top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0},
}
SAMPLER_FIELDS = {
    "top_k",
    "min_p",
    "typical_p",
    "repeat_penalty",
    "repetition_penalty",
    "mirostat",
    "mirostat_mode",
    "dry_multiplier",
    "xtc_probability",
    "top_n_sigma",
    "dynatemp_range",
    "adaptive_target",
}


@pytest.mark.parametrize("backend", sorted(NEUTRAL))
async def test_api_sampling_switches_the_servers_own_samplers_off(
    fault: FaultServer, backend: str
) -> None:
    """By default the backend's extra samplers are sent at their neutral values."""
    result = await run(fault, backend, seed=1)
    body = fault.requests()[0].body
    assert NEUTRAL[backend].items() <= body.items()
    assert not [w for w in result.warnings if "samplers" in str(w)]


async def test_llamacpp_gets_every_documented_sampler_switched_off(fault: FaultServer) -> None:
    """llama-server gets each sampler its README lists at the value it calls disabled."""
    await run(fault, "llamacpp")
    body = fault.requests()[0].body
    assert SAMPLER_FIELDS - {"repetition_penalty", "mirostat_mode"} <= body.keys()
    assert (body["presence_penalty"], body["frequency_penalty"]) == (0.0, 0.0)
    assert (body["mirostat"], body["dry_multiplier"], body["top_n_sigma"]) == (0, 0.0, -1.0)


@pytest.mark.parametrize("backend", ["llamacpp", "vllm"])
async def test_requested_penalties_win_over_the_neutral_ones(
    fault: FaultServer, backend: str
) -> None:
    """A penalty the request gives is sent as given, not as the neutral 0."""
    await run(fault, backend, presence_penalty=0.5, frequency_penalty=-1.0)
    body = fault.requests()[0].body
    assert (body["presence_penalty"], body["frequency_penalty"]) == (0.5, -1.0)


@pytest.mark.parametrize("backend", sorted(NEUTRAL))
async def test_server_sampling_leaves_them_on_and_says_so(fault: FaultServer, backend: str) -> None:
    """sampling server sends none of them, and the result carries a footer note."""
    result = await run(fault, backend, sampling="server")
    body = fault.requests()[0].body
    assert not SAMPLER_FIELDS & body.keys()
    assert "presence_penalty" not in body
    [note] = [w for w in result.warnings if "samplers" in str(w)]
    assert str(note).startswith(f"sampling is server: {backend}'s own samplers apply as well (")


@pytest.mark.parametrize("backend", ["openai", "tgi"])
async def test_backends_without_samplers_of_their_own(fault: FaultServer, backend: str) -> None:
    """OpenAI and TGI get no extra fields either way; server mode says nothing changes."""
    assert not [w for w in (await run(fault, backend)).warnings if "samplers" in str(w)]
    server = await run(fault, backend, sampling="server")
    assert f"sampling is server, but {backend} adds no samplers of its own." in [
        str(w) for w in server.warnings
    ]
    for seen in fault.requests():
        assert not SAMPLER_FIELDS & seen.body.keys()


async def test_ollama_says_its_samplers_stay_on(fault: FaultServer) -> None:
    """Ollama's /v1/completions cannot carry top_k or repeat_penalty: the footer says so."""
    result = await run(fault, "ollama")
    assert not SAMPLER_FIELDS & fault.requests()[0].body.keys()
    assert (
        "ollama keeps its own samplers on (top_k 40 and a repeat penalty, unless the model "
        "sets others): its /v1/completions cannot switch them off."
    ) in [str(w) for w in result.warnings]


async def test_streaming_carries_the_sampling_note(fault: FaultServer) -> None:
    """A streamed completion sends the same fields and keeps the note for the footer."""
    async with CompletionsClient(fault.base_url, backend="llamacpp", default_model="m") as client:
        stream = client.stream(build(stream=True, sampling="server"))
        text = "".join([d async for d in stream])
    assert text
    assert not SAMPLER_FIELDS & fault.requests()[0].body.keys()
    assert [w for w in stream.warnings if str(w).startswith("sampling is server: llamacpp's own")]
