"""LocalModelFallback: the configured backend, or the real bundled model while a block runs."""

from __future__ import annotations

import httpx
import pytest

from bot.local_model import MODEL_ALIAS, LocalModelFallback, using_local_model
from bot.local_model.fallback import STARTING, STOPPED
from bot.settings import Settings


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_configured_backend_is_used_as_it_is() -> None:
    """With COMPLETIONS_BASE_URL set, nothing starts, nothing is said, the settings pass through."""
    said: list[str] = []
    configured = settings(completions_base_url="http://127.0.0.1:9/v1")
    with LocalModelFallback(configured, said.append) as running:
        assert running is configured
    assert said == []


@pytest.mark.parametrize(
    ("configured", "expected"), [("auto", "llama-cpp-python"), ("llamacpp", "llamacpp")]
)
def test_local_model_settings_keep_a_configured_backend(configured: str, expected: str) -> None:
    """The bundled model's profile replaces only `auto`; an explicit COMPLETIONS_BACKEND stays."""
    updated = using_local_model(settings(completions_backend=configured), "http://127.0.0.1:1/v1")
    assert updated.completions_base_url == "http://127.0.0.1:1/v1"
    assert updated.completions_backend == expected


async def test_without_a_backend_the_bundled_model_serves_the_block() -> None:
    """No COMPLETIONS_BASE_URL: the real model starts, the settings point at it, it stops after."""
    said: list[str] = []
    async with LocalModelFallback(settings(), said.append) as running:
        base_url = running.completions_base_url
        assert base_url is not None and base_url.startswith("http://127.0.0.1:")
        assert running.completions_backend == "llama-cpp-python"
        async with httpx.AsyncClient() as client:
            models = (await client.get(f"{base_url}/models", timeout=10)).json()
        assert [m["id"] for m in models["data"]] == [MODEL_ALIAS]
    assert said == [STARTING, f"Local model ready at {base_url}.", STOPPED]
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{base_url}/models", timeout=2)
