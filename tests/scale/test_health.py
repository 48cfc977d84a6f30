"""The operator's endpoint on METRICS_PORT: /healthz, /readyz naming what is not ready,
/metrics in Prometheus' format; nothing listens without METRICS_PORT."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import command_label, server_label
from bot.sandbox import FakeDiscord
from bot.settings import Settings
from tests.e2e.conftest import make_settings, start_couplet
from tests.scale.processes import WAIT, ScaleStub
from tests.support.discord_env import running_fake
from tests.support.postgres import free_port


def settings_for(fake: FakeDiscord, tmp_path: Path, stub: ScaleStub, **more: object) -> Settings:
    return make_settings(
        fake,
        tmp_path / "couplet.db",
        stub.base_url,
        completions_backend="vllm",
        moderation_classifier=False,
        **more,
    )


async def get(port: int, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=WAIT) as client:
        return await client.get(f"http://127.0.0.1:{port}{path}")


async def test_health_readiness_and_metrics(tmp_path: Path) -> None:
    """Alive and ready while everything answers; /readyz turns 503 naming the backend
    once the model server is gone; /metrics parses and shows the shard and the server."""
    port = free_port()
    async with running_fake() as fake:
        backend = contextlib.AsyncExitStack()
        stub = await backend.enter_async_context(ScaleStub().running())
        settings = settings_for(fake, tmp_path, stub, metrics_port=port)
        try:
            async with start_couplet(fake, settings):
                assert (await get(port, "/healthz")).status_code == 200
                ready = await get(port, "/readyz")
                assert ready.status_code == 200, ready.text
                assert ready.json()["checks"] == {
                    "discord": "ok",
                    "database": "ok",
                    "backend": "ok",
                }
                metrics = await get(port, "/metrics")
                assert metrics.headers["content-type"].startswith("text/plain")
                names = {f.name for f in text_string_to_metric_families(metrics.text)}
                assert {"couplet_interactions", "couplet_shard_latency_seconds"} <= names
                assert "couplet_model_server_up" in names
                await backend.aclose()  # the model server goes away
                ready = await get(port, "/readyz")
                assert ready.status_code == 503
                checks = ready.json()["checks"]
                assert checks["backend"] != "ok" and checks["database"] == "ok"
        finally:
            await backend.aclose()


async def test_an_unreachable_redis_makes_the_process_not_ready(tmp_path: Path) -> None:
    """With REDIS_URL pointing at nothing, /readyz is 503 and names Redis."""
    port = free_port()
    async with running_fake() as fake, ScaleStub().running() as stub:
        nowhere = f"redis://127.0.0.1:{free_port()}/0"
        settings = settings_for(fake, tmp_path, stub, metrics_port=port, redis_url=nowhere)
        async with start_couplet(fake, settings):
            ready = await get(port, "/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["redis"] != "ok"
            assert ready.json()["checks"]["discord"] == "ok"


async def test_no_metrics_port_no_endpoint(tmp_path: Path) -> None:
    """Off by default: without METRICS_PORT the bot opens no HTTP endpoint, and its
    Discord requests are not traced (the first-response histogram nobody could read)."""
    async with running_fake() as fake, ScaleStub().running() as stub:
        settings = settings_for(fake, tmp_path, stub)
        async with start_couplet(fake, settings) as run:
            assert run.bot.health is None
            assert run.bot.http.http_trace is None
        with_port = settings.model_copy(update={"metrics_port": free_port()})
        async with start_couplet(fake, with_port) as run:
            assert run.bot.http.http_trace is not None


def test_labels_stay_short_and_keep_secrets_out() -> None:
    """Command labels drop the numbers in custom ids (bounded label values); a model
    server's label has no credentials."""
    assert (
        command_label({"type": 3, "data": {"custom_id": "cpl:regen:123456"}}) == "button:cpl:regen"
    )
    subcommand = {"type": 1, "name": "set", "options": []}
    assert command_label({"type": 2, "data": {"name": "limits", "options": [subcommand]}}) == (
        "limits set"
    )
    assert server_label("http://user:secret@10.0.0.5:8000/v1") == "10.0.0.5:8000"
