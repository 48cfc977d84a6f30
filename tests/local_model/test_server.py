"""LocalModelServer: start, health, logs and stop of the real llama-cpp-python server."""

from __future__ import annotations

import httpx
import pytest

from bot.local_model import MODEL_ALIAS, LocalModelError, LocalModelServer
from bot.local_model import server as server_module


def test_start_serves_the_model_and_stop_frees_the_port(tmp_path) -> None:
    """start() blocks until /v1/models lists the alias; stop() ends the process and its port."""
    log_path = tmp_path / "model.log"
    with LocalModelServer(log_path=log_path) as local:
        base_url = local.base_url
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        models = httpx.get(f"{base_url}/models", timeout=5).json()
        assert [m["id"] for m in models["data"]] == [MODEL_ALIAS]
        process = local.process
        assert process is not None and process.poll() is None
    assert process.poll() is not None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/models", timeout=2)
    # The server's own output went to the log file, not the console.
    assert "Uvicorn running" in log_path.read_text()


def test_server_exposes_logprobs(local_model_url: str) -> None:
    """The server is started with logits_all on, so logprobs requests work."""
    body = {"prompt": "Hi", "max_tokens": 1, "logprobs": 1, "temperature": 0}
    response = httpx.post(f"{local_model_url}/completions", json=body, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["logprobs"]["token_logprobs"]


def test_missing_local_extra_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without llama-cpp-python installed, start() says which extra to install."""
    real_find_spec = server_module.importlib.util.find_spec
    monkeypatch.setattr(
        server_module.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llama_cpp" else real_find_spec(name, *a),
    )
    with pytest.raises(LocalModelError) as info:
        LocalModelServer().start()
    assert "'local' extra" in str(info.value)


def test_base_url_before_start_is_an_error() -> None:
    """Asking for the URL of a server that was never started is a clear error."""
    with pytest.raises(LocalModelError):
        _ = LocalModelServer().base_url
