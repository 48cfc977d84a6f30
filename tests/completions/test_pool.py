"""A pool of model servers behind one client: least in flight, a failing server taken out
(refused, 5xx, timeouts, a stream broken off) and probed back in, requests moving to
another server at once, and affinity keeping a key on one server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.completions import CompletionRequest, CompletionsClient
from bot.errors import BackendError
from tests.completions.fault_server import DONE, FaultServer, chunk, closed_port, hang, reply, sse
from tests.completions.test_faults import Waits
from tests.support.discord_env import wait_until

COMPLETIONS = "/v1/completions"
REQ = CompletionRequest.build(prompt="Hello", max_tokens=4)


@pytest.fixture
async def servers() -> AsyncIterator[list[FaultServer]]:
    """Two fresh fault-injecting servers of the same model."""
    pair = [FaultServer(), FaultServer()]
    for server in pair:
        await server.start()
    try:
        yield pair
    finally:
        for server in pair:
            await server.stop()


def pool_client(urls: list[str], waits: Waits | None = None, **kwargs: object) -> CompletionsClient:
    kwargs.setdefault("default_model", "fault-model")  # no model listing before a request
    client = CompletionsClient(urls, backend="vllm", sleep=waits or Waits(), **kwargs)  # type: ignore[arg-type]
    client.http.probe_interval = 0.05
    client.http.probe_max = 0.2
    return client


def slow(seconds: float):  # type: ignore[no-untyped-def]
    """Answer normally after `seconds`."""

    async def handler(request, body):  # type: ignore[no-untyped-def]
        await asyncio.sleep(seconds)
        return await reply(200, {
            "id": "x", "object": "text_completion", "created": 1, "model": "fault-model",
            "choices": [{"index": 0, "text": " ok", "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        })(request, body)  # fmt: skip

    return handler


async def test_requests_go_to_the_server_with_fewest_in_flight(
    servers: list[FaultServer],
) -> None:
    """Four requests at once on two slow servers: two each; then one at a time they take
    turns (not all to the first)."""
    a, b = servers
    for server in servers:
        server.script(COMPLETIONS, *(slow(0.3) for _ in range(2)))
    async with pool_client([a.base_url, b.base_url]) as client:
        await asyncio.gather(*(client.complete(REQ) for _ in range(4)))
        assert (len(a.requests()), len(b.requests())) == (2, 2)
        for _ in range(4):
            await client.complete(REQ)
        assert (len(a.requests()), len(b.requests())) == (4, 4)


async def test_a_refused_server_is_skipped_at_once_and_probed_back_in() -> None:
    """With one server's port closed every request is answered by the other, without a
    retry wait; when the server comes up on that port it is probed back in and used."""
    good = FaultServer()
    await good.start()
    port = closed_port()
    waits = Waits()
    try:
        async with pool_client([f"http://127.0.0.1:{port}/v1", good.base_url], waits) as client:
            for _ in range(4):
                result = await client.complete(REQ)
                assert result.choices[0].text
            assert len(good.requests()) == 4
            assert waits.delays == []  # moving on is not a retry
            down = client.http.servers[0]
            assert not down.up and down.failures == 1  # taken out after the first failure
            back = FaultServer()
            back.port = port
            await _start_on(back, port)
            try:
                await wait_until(lambda: down.up, "the server to be probed back in", 30)
                for _ in range(4):
                    await client.complete(REQ)
                assert len(back.requests()) >= 1
            finally:
                await back.stop()
    finally:
        await good.stop()


async def _start_on(server: FaultServer, port: int) -> None:
    from aiohttp import web

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server._handle)
    server._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
    await server._runner.setup()
    await web.TCPSite(server._runner, "127.0.0.1", port).start()


@pytest.mark.parametrize("fault", ["503", "timeout"])
async def test_a_failing_server_hands_its_request_to_the_other(
    servers: list[FaultServer], fault: str
) -> None:
    """A 503 or a timeout on one server moves the request to the other at once; the
    failing one is out of the pool until it answers its probe again. (Idle servers take
    turns from the first, so the first request goes to the failing one.)"""
    a, b = servers
    behaviour = reply(503, {"error": {"message": "overloaded"}}) if fault == "503" else hang(5)
    a.script(COMPLETIONS, behaviour)
    a.script("/v1/models", reply(503, {"error": {"message": "still down"}}))
    waits = Waits()
    async with pool_client([a.base_url, b.base_url], waits, timeout=0.5) as client:
        result = await client.complete(REQ)
        assert result.choices[0].text
        assert (len(a.requests()), len(b.requests())) == (1, 1)
        assert waits.delays == []
        assert not client.http.servers[0].up
        await wait_until(lambda: client.http.servers[0].up, "the probe to find it back", 30)


async def test_with_every_server_down_the_request_still_tries_and_fails_clearly() -> None:
    """Two closed ports: the request tries both, retries per the policy, and fails with
    one sentence saying the backend could not be reached."""
    waits = Waits()
    urls = [f"http://127.0.0.1:{closed_port()}/v1", f"http://127.0.0.1:{closed_port()}/v1"]
    async with pool_client(urls, waits) as client:
        with pytest.raises(BackendError, match="could not be reached"):
            await client.complete(REQ)
        assert len(waits.delays) == 2  # the two retries of openai-python's policy


async def test_a_stream_broken_off_takes_its_server_out(servers: list[FaultServer]) -> None:
    """A stream cut after its first text fails (the member saw part of it) and its server
    leaves the pool; the next request goes to the other."""
    a, b = servers
    a.script(COMPLETIONS, sse([chunk("Hel"), chunk("lo")], abort=True))
    a.script("/v1/models", reply(503, {}))
    async with pool_client([a.base_url, b.base_url]) as client:
        stream = client.stream(REQ)
        with pytest.raises(BackendError, match="stopped in the middle"):
            async for _ in stream:
                pass
        assert not client.http.servers[0].up
        b.script(COMPLETIONS, sse([chunk(" there", "stop"), DONE]))
        text = "".join([delta async for delta in client.stream(REQ)])
        assert text == " there"
        assert all(server.in_flight == 0 for server in client.http.servers)


async def test_a_key_keeps_to_one_server_and_keys_spread(servers: list[FaultServer]) -> None:
    """Requests with one affinity key all go to the same server; many keys use both; a key
    whose server is out goes elsewhere and comes back when it returns."""
    a, b = servers
    async with pool_client([a.base_url, b.base_url]) as client:
        for _ in range(6):
            await client.complete(REQ, affinity="story:7")
        counts = (len(a.requests()), len(b.requests()))
        assert sorted(counts) == [0, 6]
        home = client.http.servers[0 if counts[0] else 1]
        other = client.http.servers[1 if counts[0] else 0]
        for key in range(20):
            await client.complete(REQ, affinity=f"story:{key}")
        assert len(a.requests()) > 0 and len(b.requests()) > 0
        home.up = False  # out, as after a failure
        before = other.requests
        await client.complete(REQ, affinity="story:7")
        assert other.requests == before + 1
        home.up = True
        before = home.requests
        await client.complete(REQ, affinity="story:7")
        assert home.requests == before + 1


def test_affinity_is_the_same_in_every_process() -> None:
    """The server a key prefers depends only on the key and the URLs (rendezvous
    hashing), so every bot process sends a story's rounds to the same server."""
    urls = ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1", "http://10.0.0.3:8000/v1"]
    first, second = CompletionsClient(urls), CompletionsClient(list(urls))
    picks = [first.http.pick(f"story:{k}").url for k in range(30)]
    assert picks == [second.http.pick(f"story:{k}").url for k in range(30)]
    assert len(set(picks)) == 3
