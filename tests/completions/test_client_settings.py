"""CompletionsClient.from_settings and what the configured client sends."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bot.completions import CompletionRequest, CompletionsClient
from bot.settings import Settings
from tests.completions.fault_server import FaultServer


async def test_from_settings_uses_url_key_backend_and_model(fault: FaultServer) -> None:
    """The client takes the base URL, key, backend and default model from Settings."""
    settings = Settings(
        completions_base_url=fault.base_url,
        completions_api_key=SecretStr("sk-local-test"),
        completions_backend="vllm",
        completions_model="my-model",
        completions_timeout=7,
    )
    async with CompletionsClient.from_settings(settings) as client:
        assert (await client.profile()).name == "vllm"
        await client.complete(CompletionRequest.build(prompt="hi"))
    [seen] = fault.requests()
    assert seen.body["model"] == "my-model"
    assert seen.headers["Authorization"] == "Bearer sk-local-test"
    assert fault.requests("/v1/models") == []  # backend was configured, nothing to detect


def test_no_url_is_a_clear_error() -> None:
    """Without any URL the client refuses to start and says what to set."""
    with pytest.raises(ValueError, match="COMPLETIONS_BASE_URL"):
        CompletionsClient.from_settings(Settings(completions_base_url=None))


async def test_model_defaults_to_first_listed(fault: FaultServer) -> None:
    """With no model configured, a local server's first listed model is used."""
    async with CompletionsClient(fault.base_url, backend="llama-cpp-python") as client:
        await client.complete(CompletionRequest.build(prompt="hi"))
    assert fault.requests()[0].body["model"] == "fault-model"


async def test_stream_asks_for_usage_where_supported(fault: FaultServer) -> None:
    """On OpenAI-like servers the stream asks for usage; llama-cpp-python is not sent it."""
    for backend, expected in (("vllm", True), ("llama-cpp-python", False)):
        async with CompletionsClient(fault.base_url, backend=backend, default_model="m") as c:
            _ = [d async for d in c.stream(CompletionRequest.build(prompt="x", stream=True))]
        sent = fault.requests()[-1].body
        assert ("stream_options" in sent) is expected
