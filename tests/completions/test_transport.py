"""The transport to model servers: idle connections checked without `getpeername`, and
connections the server closed still found and replaced (real sockets on loopback)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.completions.http import LIMITS, BackendHTTP
from bot.completions.transport import backend_transport, readable
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


async def idle_checks(client: httpx.AsyncClient, url: str) -> int:
    """getpeername calls while 8 requests reuse a pool of idle connections."""
    # Eight at once open eight connections; then each request finds seven idle.
    await asyncio.gather(*(client.get(url) for _ in range(8)))
    with getpeername_calls() as count:
        for _ in range(8):
            assert (await client.get(url)).json() == {"ok": True}
    return count[0]


async def test_idle_connections_are_checked_without_asking_for_the_peer() -> None:
    """httpx's own transport calls getpeername for every idle connection of the pool on
    every request; ours (and so Couplet's backend client) makes none, and answers the same."""
    async with server() as (url, ports):
        async with httpx.AsyncClient(limits=LIMITS) as stock:
            assert await idle_checks(stock, url) >= 8 * 7
        async with httpx.AsyncClient(transport=backend_transport(LIMITS)) as lean:
            assert await idle_checks(lean, url) == 0
        couplets = BackendHTTP(url)  # what Couplet talks to a model server with
        try:
            assert await idle_checks(couplets.client, url) == 0
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
            assert await idle_checks(client, url) == 0
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
