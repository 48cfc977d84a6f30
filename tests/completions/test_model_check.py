"""`model` is checked against the backend's /v1/models list before anything is sent.

llama-cpp-python (and TGI) answer with their one model whatever `model` says,
so an unknown name would otherwise be dropped silently.
"""

from __future__ import annotations

import httpx
import pytest

import bot.completions.client as client_module
from bot.completions import CompletionRequest, CompletionsClient
from bot.errors import ParameterError
from tests.completions.fault_server import FaultServer, reply

COMPLETIONS = "/v1/completions"
MODELS = "/v1/models"


class RecordingTransport(httpx.AsyncHTTPTransport):
    """The ordinary transport, keeping the path of every request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await super().handle_async_request(request)


def model_list(*ids: str) -> dict[str, object]:
    return {"object": "list", "data": [{"id": i, "object": "model"} for i in ids]}


async def test_unknown_model_is_refused_before_sending(local_model_url: str) -> None:
    """The real server would answer for 'nope'; the client refuses it naming the served model."""
    transport = RecordingTransport()
    async with CompletionsClient(local_model_url, transport=transport) as client:
        with pytest.raises(ParameterError) as caught:
            await client.complete(CompletionRequest.build(prompt="Hi", model="nope", max_tokens=1))
        assert caught.value.param == "model"
        assert str(caught.value) == (
            "model 'nope' is not served by this backend: use one of gemma-3-270m (see /models)."
        )
        with pytest.raises(ParameterError):
            async for _ in client.stream(CompletionRequest.build(prompt="Hi", model="nope")):
                pass
        assert not any(path.endswith("/completions") for path in transport.paths)
        # The served name itself goes through.
        result = await client.complete(
            CompletionRequest.build(prompt="Hi", model="gemma-3-270m", max_tokens=1)
        )
        assert result.model == "gemma-3-270m"
        assert transport.paths.count("/v1/completions") == 1


async def test_model_is_sent_unchecked_when_the_listing_fails(fault: FaultServer) -> None:
    """With /v1/models failing, the model goes to the backend as before, and the failure is not
    retried for every request."""
    fault.script(MODELS, reply(404, {"error": {"message": "no such route"}}))
    async with CompletionsClient(fault.base_url, backend="vllm") as client:
        for _ in range(2):
            await client.complete(CompletionRequest.build(prompt="Hi", model="any", max_tokens=1))
    assert [seen.body["model"] for seen in fault.requests(COMPLETIONS)] == ["any", "any"]
    assert len(fault.requests(MODELS)) == 1


async def test_empty_listing_leaves_the_model_unchecked(fault: FaultServer) -> None:
    """A server that lists no models gets the requested name as is."""
    fault.script(MODELS, reply(200, model_list()))
    async with CompletionsClient(fault.base_url, backend="vllm") as client:
        await client.complete(CompletionRequest.build(prompt="Hi", model="any", max_tokens=1))
    assert fault.requests(COMPLETIONS)[0].body["model"] == "any"


async def test_refusal_caps_the_list(fault: FaultServer) -> None:
    """The sentence shows ten names and how many more; a fresh list is not read again."""
    many = [f"m{i}" for i in range(14)]
    fault.script(MODELS, reply(200, model_list(*many)))
    async with CompletionsClient(fault.base_url, backend="vllm") as client:
        with pytest.raises(ParameterError) as caught:
            await client.complete(CompletionRequest.build(prompt="Hi", model="x", max_tokens=1))
    assert str(caught.value) == (
        "model 'x' is not served by this backend: use one of m0, m1, m2, m3, m4, m5, m6, m7, "
        "m8, m9 and 4 more (see /models)."
    )
    assert len(fault.requests(MODELS)) == 1
    assert fault.requests(COMPLETIONS) == []


async def test_newly_loaded_model_is_found_on_refresh(
    fault: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model missing from an old cached list but present on re-reading it is sent."""
    monkeypatch.setattr(client_module, "MODELS_REFRESH", 0.0)  # every cached list counts as old
    fault.script(MODELS, reply(200, model_list("old")), reply(200, model_list("old", "new")))
    async with CompletionsClient(fault.base_url, backend="vllm") as client:
        await client.complete(CompletionRequest.build(prompt="Hi", model="old", max_tokens=1))
        await client.complete(CompletionRequest.build(prompt="Hi", model="new", max_tokens=1))
    assert [seen.body["model"] for seen in fault.requests(COMPLETIONS)] == ["old", "new"]


async def test_ollama_name_without_tag_matches_latest(fault: FaultServer) -> None:
    """Ollama lists `llama3:latest` and accepts `llama3`; the check does too."""
    fault.script(MODELS, reply(200, model_list("llama3:latest")))
    async with CompletionsClient(fault.base_url, backend="ollama") as client:
        await client.complete(CompletionRequest.build(prompt="Hi", model="llama3", max_tokens=1))
    assert fault.requests(COMPLETIONS)[0].body["model"] == "llama3"
