"""The transport to model servers: idle connections checked without `getpeername`,
connections the server closed still found and replaced, and the connections split over
several pools (real sockets on loopback)."""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest
from aiohttp import web

from bot.completions.http import LIMITS, BackendHTTP
from bot.completions.transport import (
    IdleSockets,
    ShardedTransport,
    SocketOnce,
    backend_transport,
    readable,
)
from tests.e2e.conftest import serve


@asynccontextmanager
async def server(
    keepalive: float = 75.0, tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[str, set[int]]]:
    """A JSON server on loopback; yields its URL and the client ports it saw."""
    ports: set[int] = set()

    async def answer(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            ports.add(peer[1])
        await asyncio.sleep(0.01)  # long enough for requests sent together to overlap
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/", answer)
    async with serve(app, tls=tls, keepalive_timeout=keepalive) as base:
        yield f"{base}/", ports


@contextmanager
def getpeername_calls() -> Iterator[list[int]]:
    """Counts `socket.getpeername` calls made in this thread inside the block."""
    count = [0]

    def profile(_frame: Any, event: str, arg: Any) -> None:
        if event == "c_call" and getattr(arg, "__name__", "") == "getpeername":
            count[0] += 1

    sys.setprofile(profile)
    try:
        yield count
    finally:
        sys.setprofile(None)


async def idle_checks(
    client: httpx.AsyncClient, url: str, counting: AbstractContextManager[list[int]]
) -> int:
    """What `counting` counts (getpeername calls, polls) while 8 requests reuse a pool of
    idle connections."""
    # Eight at once open eight connections; then each request finds seven idle.
    await asyncio.gather(*(client.get(url) for _ in range(8)))
    with counting as count:
        for _ in range(8):
            assert (await client.get(url)).json() == {"ok": True}
    return count[0]


async def test_idle_connections_are_checked_without_asking_for_the_peer() -> None:
    """httpx's own transport calls getpeername for every idle connection of the pool on
    every request; ours (and so Couplet's backend client) makes none, and answers the same."""
    async with server() as (url, ports):
        async with httpx.AsyncClient(limits=LIMITS) as stock:
            assert await idle_checks(stock, url, getpeername_calls()) >= 8 * 7
        async with httpx.AsyncClient(transport=backend_transport(LIMITS)) as lean:
            assert await idle_checks(lean, url, getpeername_calls()) == 0
        couplets = BackendHTTP(url)  # what Couplet talks to a model server with
        try:
            assert await idle_checks(couplets.client, url, getpeername_calls()) == 0
        finally:
            await couplets.aclose()
        assert len(ports) >= 24  # each client did open its eight connections


async def test_a_connection_the_server_closed_is_replaced() -> None:
    """The server closes an idle keep-alive connection; the next request goes out on a
    new one instead of failing on the closed one."""
    async with server(keepalive=0.1) as (url, ports):
        async with httpx.AsyncClient(transport=backend_transport(LIMITS)) as client:
            assert (await client.get(url)).status_code == 200
            await asyncio.sleep(0.5)  # the server has closed it by now
            assert (await client.get(url)).status_code == 200
        assert len(ports) == 2


async def test_a_kept_connection_is_reused() -> None:
    """Requests one after another share one connection (the check leaves open ones be)."""
    async with server() as (url, ports):
        async with httpx.AsyncClient(transport=backend_transport(LIMITS)) as client:
            for _ in range(5):
                assert (await client.get(url)).status_code == 200
        assert len(ports) == 1


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (made by openssl)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_connections_go_through_the_same_check(certificate: tuple[Path, Path]) -> None:
    """Over TLS the stream is wrapped again after the handshake: requests succeed,
    connections are reused, and idle ones are checked without getpeername."""
    cert, key = certificate
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    async with server(tls=served) as (url, ports):
        trusted = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(transport=backend_transport(LIMITS, verify=trusted)) as client:
            assert await idle_checks(client, url, getpeername_calls()) == 0
        assert len(ports) == 8


def test_readable_tells_data_and_a_closed_peer_from_a_quiet_socket() -> None:
    """A quiet open socket is not readable; one with data is; one whose peer closed is;
    a closed socket of our own counts as readable too (its connection is dropped)."""
    ours, peer = socket.socketpair()
    try:
        assert readable(ours) is False
        peer.send(b"x")
        assert readable(ours) is True
        ours.recv(1)
        assert readable(ours) is False
        peer.close()
        assert readable(ours) is True
    finally:
        ours.close()
    assert readable(ours) is True
    assert readable(None) is True


class _Plain(httpcore.AsyncNetworkStream):
    """A bare stream over one end of a socketpair (what httpcore's backend would give)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return self.sock.recv(max_bytes)

    def get_extra_info(self, info: str) -> Any:
        return self.sock if info == "socket" else None


@contextmanager
def counted_polls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts poll system calls made through `select.poll` objects inside the block."""
    count = [0]
    real = select.poll

    class Counting:
        def __init__(self) -> None:
            self.poller = real()

        def register(self, fd: int, events: int) -> None:
            self.poller.register(fd, events)

        def poll(self, timeout: int) -> list[tuple[int, int]]:
            count[0] += 1
            return self.poller.poll(timeout)

    with monkeypatch.context() as patch:
        patch.setattr(select, "poll", Counting)
        yield count


async def test_idle_sockets_are_polled_together_once_a_loop_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Questions about several idle connections in one turn of the loop make one poll;
    the next turn polls again and sees what changed since."""
    pairs = [socket.socketpair() for _ in range(4)]
    try:
        idle = IdleSockets()
        streams = [SocketOnce(_Plain(ours), idle) for ours, _ in pairs]
        pairs[1][1].send(b"x")
        with counted_polls(monkeypatch) as polls:
            assert [s.get_extra_info("is_readable") for s in streams] == [False, True, False, False]
            pairs[3][1].close()  # the peer goes away within the same turn
            assert streams[3].get_extra_info("is_readable") is False  # the turn's answer
            assert polls[0] == 1
            await asyncio.sleep(0)  # the loop's next turn
            assert [s.get_extra_info("is_readable") for s in streams] == [False, True, False, True]
            assert polls[0] == 2
    finally:
        for ours, peer in pairs:
            ours.close()
            peer.close()


async def test_a_stream_that_read_since_the_poll_is_polled_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The turn's answer is not reused for a stream that has read since: the data it
    answered about may be gone."""
    ours, peer = socket.socketpair()
    try:
        stream = SocketOnce(_Plain(ours), IdleSockets())
        peer.send(b"x")
        with counted_polls(monkeypatch) as polls:
            assert stream.get_extra_info("is_readable") is True
            assert await stream.read(1) == b"x"
            assert stream.get_extra_info("is_readable") is False
            assert polls[0] == 2
    finally:
        ours.close()
        peer.close()


async def test_a_request_polls_the_idle_pool_a_few_times_not_once_per_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With seven idle connections httpx's own transport polls each of them on every
    request; ours polls a few times a request whatever the pool's size."""
    async with server() as (url, _ports):
        async with httpx.AsyncClient(limits=LIMITS) as stock:
            assert await idle_checks(stock, url, counted_polls(monkeypatch)) >= 8 * 7
        async with httpx.AsyncClient(transport=backend_transport(LIMITS)) as ours:
            assert await idle_checks(ours, url, counted_polls(monkeypatch)) <= 8 * 3


def test_answers_of_a_closed_loop_are_not_used_by_the_next() -> None:
    """A loop closed before its next turn leaves no answers behind for another loop."""
    ours, peer = socket.socketpair()
    try:
        stream = SocketOnce(_Plain(ours), IdleSockets())
        answers: list[object] = []

        def ask_and_stop(loop: asyncio.AbstractEventLoop) -> None:
            answers.append(stream.get_extra_info("is_readable"))
            loop.stop()  # this is the loop's last turn: the next, which drops them, never comes

        first = asyncio.new_event_loop()
        first.call_soon(ask_and_stop, first)
        first.run_forever()
        first.close()
        peer.close()
        second = asyncio.new_event_loop()
        second.call_soon(ask_and_stop, second)
        second.run_forever()
        second.close()
        assert answers == [False, True]
    finally:
        ours.close()


# -- connections split over pools ---------------------------------------------------------


def pools(transport: httpx.AsyncBaseTransport) -> list[httpcore.AsyncConnectionPool]:
    """httpcore's pool behind each shard of a sharded transport."""
    assert isinstance(transport, ShardedTransport)
    return [shard._pool for shard in transport.shards]  # type: ignore[attr-defined]


async def test_requests_at_once_are_spread_over_the_pools() -> None:
    """Eight requests at once open two connections in each of the four pools; each pool
    may keep a quarter of the connections (rounded up)."""
    async with server() as (url, ports):
        transport = backend_transport(LIMITS)
        async with httpx.AsyncClient(transport=transport) as client:
            answers = await asyncio.gather(*(client.get(url) for _ in range(8)))
            assert [answer.json() for answer in answers] == [{"ok": True}] * 8
            assert [len(pool.connections) for pool in pools(transport)] == [2, 2, 2, 2]
            assert all(pool._max_keepalive_connections == 5 for pool in pools(transport))
            assert transport.open == [0, 0, 0, 0]  # type: ignore[attr-defined]
        assert len(ports) == 8


async def test_a_request_stays_open_until_its_response_is_closed() -> None:
    """A streamed response keeps its pool busy until it is closed, so the next request
    goes to another pool; a failed request leaves none open."""
    async with server() as (url, _ports):
        transport = backend_transport(LIMITS)
        async with httpx.AsyncClient(transport=transport) as client:
            async with client.stream("GET", url) as streamed:
                assert transport.open == [1, 0, 0, 0]  # type: ignore[attr-defined]
                assert (await client.get(url)).status_code == 200
                assert [len(pool.connections) for pool in pools(transport)] == [1, 1, 0, 0]
                assert (await streamed.aread()) == b'{"ok": true}'
            assert transport.open == [0, 0, 0, 0]  # type: ignore[attr-defined]
            closed_port = socket.socket()
            closed_port.bind(("127.0.0.1", 0))
            port = closed_port.getsockname()[1]
            closed_port.close()  # nothing listens there: the request fails to connect
            with pytest.raises(httpx.ConnectError):
                await client.get(f"http://127.0.0.1:{port}/")
            assert transport.open == [0, 0, 0, 0]  # type: ignore[attr-defined]


async def test_the_pools_walk_a_fraction_of_the_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """httpcore's pool asks every connection whether it is idle, once per idle connection,
    each time a request starts or ends; split over four pools the same requests ask a
    small part as often as one pool of all the connections does."""
    from httpcore._async.connection import AsyncHTTPConnection

    calls = [0]
    is_idle = AsyncHTTPConnection.is_idle

    def counted(self: AsyncHTTPConnection) -> bool:
        calls[0] += 1
        return is_idle(self)

    monkeypatch.setattr(AsyncHTTPConnection, "is_idle", counted)

    async def asked(transport: httpx.AsyncBaseTransport, url: str) -> int:
        async with httpx.AsyncClient(transport=transport) as client:
            await asyncio.gather(*(client.get(url) for _ in range(16)))  # 16 connections
            calls[0] = 0
            await asyncio.gather(*(client.get(url) for _ in range(16)))
            return calls[0]

    async with server() as (url, _ports):
        one_pool = await asked(backend_transport(LIMITS, shards=1), url)
        four_pools = await asked(backend_transport(LIMITS), url)
    assert four_pools * 8 < one_pool, (four_pools, one_pool)
