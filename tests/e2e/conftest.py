"""End-to-end fixtures: the Discord emulator, the real CoupletBot in process, and backends.

- `fake`: a started FakeDiscord (default world: "Test Server", #general, alice, admin).
- `recorder`: a loopback proxy in front of the real local model that records
  every request body, so tests can see what reached the backend.
- `couplet`: the real bot (temp SQLite, backend = recorder) running against `fake`.
- `StubBackend`: a loopback OpenAI-compatible server with scripted answers, for
  what the real model cannot do on demand (exact long text, 429, 503).
- `start_couplet(fake, settings)`: start another bot (restarts, stub backends).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.app import CoupletBot
from bot.sandbox import FakeDiscord
from bot.settings import Settings
from tests.support.discord_env import BotRun, running_bot, running_fake
from tests.support.migrated import migrated_sqlite

MODEL = "gemma-3-270m"


def make_settings(fake: FakeDiscord, db_path: Path, base_url: str, **overrides: Any) -> Settings:
    """Settings for a test bot: the emulator, temp SQLite, the given backend, no .env.

    A new `db_path` starts as a copy of the session's migrated template; the bot's
    own upgrade on start then finds it at head.
    """
    values: dict[str, Any] = {
        "discord_token": "emulator-token",
        "discord_api_base": fake.api_base,
        "discord_gateway_url": fake.gateway_url,
        "database_url": f"sqlite+aiosqlite:///{migrated_sqlite(db_path)}",
        "completions_base_url": base_url,
        "completions_backend": "llama-cpp-python",
        "completions_timeout": 60.0,
        "discord_sync": "auto",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextlib.asynccontextmanager
async def start_couplet(
    fake: FakeDiscord, settings: Settings, *, wait_sync: bool = True
) -> AsyncIterator[BotRun]:
    """The real CoupletBot running against `fake` until the block ends."""
    bot = CoupletBot(settings, guild_ready_timeout=0.1)
    async with running_bot(fake, bot, wait_sync=wait_sync) as run:
        yield run


@contextlib.asynccontextmanager
async def serve(
    app: web.Application, *, tls: ssl.SSLContext | None = None, **runner_options: Any
) -> AsyncIterator[str]:
    """Serve an aiohttp app on a free loopback port; yields http://127.0.0.1:PORT
    (https:// with `tls`). `runner_options` go to aiohttp's AppRunner (keepalive_timeout…)."""
    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@dataclass
class RecordingProxy:
    """Forwards every request to the real model server and keeps every JSON request body."""

    target: str  # e.g. http://127.0.0.1:PORT/v1
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    base_url: str = ""

    def completions(self) -> list[dict[str, Any]]:
        """Bodies sent to /v1/completions, oldest first."""
        return [body for path, body in self.requests if path.endswith("/completions")]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body: dict[str, Any] = {}
        if raw:
            with contextlib.suppress(ValueError):
                body = json.loads(raw)
        self.requests.append((request.path, body))
        # Forward every path (llama-cpp-python tokenizes at /extras/tokenize, outside /v1).
        url = self.target.rstrip("/").removesuffix("/v1") + request.path_qs
        headers = {"content-type": request.headers.get("content-type", "application/json")}
        async with httpx.AsyncClient(timeout=120) as client:
            if body.get("stream"):
                # Pass the event stream through as it arrives.
                response = web.StreamResponse(headers={"content-type": "text/event-stream"})
                await response.prepare(request)
                async with client.stream(request.method, url, content=raw, headers=headers) as up:
                    async for chunk in up.aiter_raw():
                        await response.write(chunk)
                await response.write_eof()
                return response
            upstream = await client.request(request.method, url, content=raw, headers=headers)
        return web.Response(
            body=upstream.content,
            status=upstream.status_code,
            content_type=upstream.headers.get("content-type", "application/json").split(";")[0],
        )


@dataclass
class StubBackend:
    """A scripted OpenAI-compatible backend on loopback.

    `answer(body)` returns (status, json, headers) for each /v1/completions
    request; the default answers `text` with finish_reason "stop".
    """

    text: str = "stub text"
    answer: Callable[[dict[str, Any]], tuple[int, dict[str, Any], dict[str, str]]] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""

    def ok(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        choices = [
            {"index": i, "text": self.text, "logprobs": None, "finish_reason": "stop"}
            for i in range(int(body.get("n") or 1))
        ]
        data = {
            "id": "cmpl-stub",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body.get("model") or "stub-model",
            "choices": choices,
            "usage": {"prompt_tokens": 3, "completion_tokens": 7, "total_tokens": 10},
        }
        return 200, data, {}

    # Streaming: the text is sent in `stream_chunks` pieces, `stream_delay` s apart;
    # with `stream_dies_after` set, the connection is cut after that many pieces.
    stream_chunks: int = 1
    stream_delay: float = 0.0
    stream_dies_after: int | None = None

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if body.get("stream"):
            return await self.stream(request, body)
        status, data, headers = (self.answer or self.ok)(body)
        return web.json_response(data, status=status, headers=headers)

    async def stream(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        size = max(1, -(-len(self.text) // self.stream_chunks))
        pieces = [self.text[i : i + size] for i in range(0, len(self.text), size)]
        for number, piece in enumerate(pieces):
            if self.stream_dies_after is not None and number >= self.stream_dies_after:
                assert request.transport is not None
                request.transport.close()  # the connection dies mid-stream
                return response
            event = {"choices": [{"index": 0, "text": piece, "finish_reason": None}]}
            await response.write(f"data: {json.dumps(event)}\n\n".encode())
            await asyncio.sleep(self.stream_delay)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": "stub-model", "object": "model"}]}
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_get("/v1/models", self.models)
        return app


@contextlib.asynccontextmanager
async def running_stub(stub: StubBackend) -> AsyncIterator[StubBackend]:
    async with serve(stub.app()) as url:
        stub.base_url = url + "/v1"
        yield stub


@dataclass
class StubbedCouplet:
    """The real bot on a StubBackend, with what it was started with."""

    fake: FakeDiscord
    run: BotRun
    backend: StubBackend
    settings: Settings


@contextlib.asynccontextmanager
async def couplet_on_stub(
    fake: FakeDiscord, db_path: Path, text: str = "stub reply"
) -> AsyncIterator[StubbedCouplet]:
    """The real bot (SQLite at `db_path`) on a StubBackend that answers `text`."""
    async with running_stub(StubBackend(text=text)) as backend:
        settings = make_settings(fake, db_path, backend.base_url)
        async with start_couplet(fake, settings) as run:
            yield StubbedCouplet(fake, run, backend, settings)


EPHEMERAL = 1 << 6


class GatedBackend(StubBackend):
    """A stub whose completions wait until the test lets one through (`release()`)."""

    def __init__(self) -> None:
        super().__init__(text="gated reply")
        self.gate = asyncio.Semaphore(0)
        self.arrived: list[str] = []

    def release(self, count: int = 1) -> None:
        for _ in range(count):
            self.gate.release()

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.arrived.append(str(body.get("prompt")))
        await self.gate.acquire()
        self.requests.append(body)
        status, data, headers = self.ok(body)
        return web.json_response(data, status=status, headers=headers)


@contextlib.asynccontextmanager
async def couplet_on(
    fake: FakeDiscord, backend: StubBackend, db_path: Path, **settings: Any
) -> AsyncIterator[BotRun]:
    async with running_stub(backend):
        values = {"completions_model": "stub-model", **settings}
        async with start_couplet(
            fake, make_settings(fake, db_path, backend.base_url, **values)
        ) as run:
            yield run


async def ephemeral_answer(rec: Any, timeout: float) -> str:  # noqa: ASYNC109
    """The text of the interaction's final message, checked to be ephemeral."""
    message = await rec.wait_final(timeout)
    assert int(message.get("flags") or 0) & EPHEMERAL, message
    return str(message["content"])


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with running_fake() as emulator:
        yield emulator


@pytest.fixture
async def recorder(local_model_url: str) -> AsyncIterator[RecordingProxy]:
    proxy = RecordingProxy(local_model_url)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    async with serve(app) as url:
        proxy.base_url = url + "/v1"
        yield proxy


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "couplet.db"


@pytest.fixture
async def couplet(
    fake: FakeDiscord, recorder: RecordingProxy, db_path: Path
) -> AsyncIterator[BotRun]:
    """The real bot, backed by the real local model (through the recorder)."""
    async with start_couplet(fake, make_settings(fake, db_path, recorder.base_url)) as run:
        yield run


def labels(message: dict[str, Any]) -> list[str]:
    """The labels of a message's buttons, in order."""
    return [
        c.get("label", "")
        for row in message.get("components") or []
        for c in row.get("components") or []
        if c.get("type") == 2
    ]


def body_and_footer(content: str) -> tuple[str, list[str]]:
    """Split a reply into its text and its `-# ` footer lines."""
    lines = content.split("\n")
    cut = len(lines)
    while cut > 0 and lines[cut - 1].startswith("-# "):
        cut -= 1
    return "\n".join(lines[:cut]), [line[3:] for line in lines[cut:]]
