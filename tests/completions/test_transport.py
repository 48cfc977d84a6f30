"""The transport to model servers: httpx's client over aiohttp's connections, on real
sockets on loopback — the request as httpx built it, the answer as the server sent it
(streamed, still encoded for httpx to decode), connections kept and replaced, limits,
timeouts and aiohttp's errors as httpx's."""

from __future__ import annotations

import asyncio
import errno
import gzip
import json
import os
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.completions.http import LIMITS, BackendHTTP
from bot.completions.transport import AiohttpTransport
from tests.e2e.conftest import serve


@asynccontextmanager
async def server(
    keepalive: float = 75.0, tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[str, set[int]]]:
    """A JSON server on loopback that answers with what it was sent; yields its URL and
    the client ports it saw. `/hold` sends the start of a body and never the rest."""
    ports: set[int] = set()

    def note_port(request: web.Request) -> None:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            ports.add(peer[1])

    async def answer(request: web.Request) -> web.Response:
        note_port(request)
        await asyncio.sleep(0.01)  # long enough for requests sent together to overlap
        body = await request.read()
        return web.json_response(
            {
                "method": request.method,
                "path": request.raw_path,
                "headers": [[k, v] for k, v in request.headers.items()],
                "body": body.decode(),
            }
        )

    async def hold(request: web.Request) -> web.StreamResponse:
        note_port(request)
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"the start")
        await asyncio.Event().wait()  # until the client goes (or the server stops)
        return response

    app = web.Application()
    app.router.add_get("/hold", hold)
    app.router.add_route("*", "/{tail:.*}", answer)
    async with serve(app, tls=tls, keepalive_timeout=keepalive, shutdown_timeout=0.1) as base:
        yield f"{base}/", ports


def client(limits: httpx.Limits = LIMITS, **options: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=AiohttpTransport(limits), **options)


def unused_port() -> int:
    """A loopback port nothing listens on."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


async def test_the_request_goes_out_as_httpx_built_it() -> None:
    """Method, path, query, body and httpx's headers reach the server once each; aiohttp
    adds none of its own (no second User-Agent, Accept or Content-Length)."""
    async with server() as (url, _ports):
        async with client(headers={"Authorization": "Bearer k"}) as c:
            sent = await c.post(f"{url}v1/a%2Fb?x=1&q=天 气", json={"prompt": "天气"})
    assert sent.status_code == 200 and sent.reason_phrase == "OK"
    assert sent.http_version == "HTTP/1.1"
    seen = sent.json()
    assert seen["method"] == "POST"
    assert seen["path"] == sent.request.url.raw_path.decode()
    assert seen["path"] == "/v1/a%2Fb?x=1&q=%E5%A4%A9%20%E6%B0%94"
    assert json.loads(seen["body"]) == {"prompt": "天气"}
    headers = [(k.lower(), v) for k, v in seen["headers"]]
    names = [k for k, _v in headers]
    for name in ("user-agent", "accept", "accept-encoding", "content-length", "content-type"):
        assert names.count(name) == 1, (name, headers)
    assert dict(headers)["user-agent"].startswith("python-httpx/")
    assert dict(headers)["authorization"] == "Bearer k"
    assert int(dict(headers)["content-length"]) == len(seen["body"].encode())


async def test_couplets_backend_client_sends_through_aiohttp() -> None:
    """BackendHTTP (what Couplet talks to a model server with) uses this transport, and
    keeps its connection for the next request."""
    async with server() as (url, ports):
        backend = BackendHTTP(url)
        try:
            assert isinstance(backend.client._transport, AiohttpTransport)
            for method in ("GET", "POST"):
                assert (await backend.client.request(method, url)).json()["method"] == method
        finally:
            await backend.aclose()
    assert len(ports) == 1


async def test_a_kept_connection_is_reused() -> None:
    """Requests one after another share one connection."""
    async with server() as (url, ports):
        async with client() as c:
            for _ in range(5):
                assert (await c.get(url)).status_code == 200
    assert len(ports) == 1


async def test_a_connection_the_server_closed_is_replaced() -> None:
    """The server closes an idle keep-alive connection; the next request goes out on a
    new one instead of failing on the closed one."""
    async with server(keepalive=0.1) as (url, ports):
        async with client() as c:
            assert (await c.get(url)).status_code == 200
            await asyncio.sleep(0.5)  # the server has closed it by now
            assert (await c.get(url)).status_code == 200
    assert len(ports) == 2


async def test_no_more_connections_than_the_limit() -> None:
    """Eight requests at once with a limit of two share two connections (the others wait
    for one); without a limit they open eight."""
    async with server() as (url, ports):
        async with client(httpx.Limits(max_connections=2)) as c:
            answers = await asyncio.gather(*(c.get(url) for _ in range(8)))
        assert {a.status_code for a in answers} == {200}
        assert len(ports) == 2
        ports.clear()
        async with client() as c:
            await asyncio.gather(*(c.get(url) for _ in range(8)))
        assert len(ports) == 8


async def test_an_encoded_body_is_decoded_once_by_httpx() -> None:
    """A gzip body is handed to httpx as it came (aiohttp does not decode it), and httpx
    decodes it: decoded twice, or not at all, it would not be the JSON sent."""
    packed = gzip.compress(b'{"text": "hello"}')

    async def gzipped(_request: web.Request) -> web.Response:
        return web.Response(body=packed, headers={"Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_get("/", gzipped)
    async with serve(app) as base, client() as c:
        answer = await c.get(f"{base}/")
    assert answer.headers["content-encoding"] == "gzip"
    assert answer.json() == {"text": "hello"}


async def test_a_streamed_body_arrives_as_it_is_sent() -> None:
    """The first chunk reaches the caller while the server still holds the second."""
    release = asyncio.Event()

    async def chunks(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"data: one\n\n")
        await release.wait()
        await response.write(b"data: two\n\n")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/", chunks)
    async with serve(app) as base, client() as c:
        async with c.stream("GET", f"{base}/") as streamed:
            parts = streamed.aiter_bytes()
            assert await asyncio.wait_for(anext(parts), 5) == b"data: one\n\n"
            release.set()
            assert b"".join([part async for part in parts]) == b"data: two\n\n"


async def test_a_body_left_unread_does_not_spoil_the_next_request() -> None:
    """A streamed response closed before its whole body came closes its connection
    rather than handing it back half read; the next request gets a whole answer."""
    async with server() as (url, ports):
        async with client() as c:
            async with c.stream("GET", f"{url}hold") as held:
                assert await anext(held.aiter_bytes()) == b"the start"
            assert (await c.get(url)).json()["method"] == "GET"
    assert len(ports) == 2


async def test_cookies_and_redirects_are_left_to_httpx() -> None:
    """A cookie the server set is sent back once (httpx's jar; aiohttp keeps none), and a
    redirect comes back to httpx, which follows it only when asked."""

    async def login(_request: web.Request) -> web.Response:
        response = web.Response(status=302, headers={"Location": "/home"})
        response.set_cookie("session", "s1")
        return response

    async def home(request: web.Request) -> web.Response:
        return web.json_response({"cookie": request.headers.getall("Cookie", [])})

    app = web.Application()
    app.router.add_get("/login", login)
    app.router.add_get("/home", home)
    async with serve(app) as base, client() as c:
        redirect = await c.get(f"{base}/login")
        assert redirect.status_code == 302
        assert (await c.get(f"{base}/home")).json() == {"cookie": ["session=s1"]}
        followed = await c.get(f"{base}/login", follow_redirects=True)
        assert followed.json() == {"cookie": ["session=s1"]}


async def test_a_slow_answer_is_httpxs_read_timeout() -> None:
    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/", slow)
    async with serve(app) as base, client(timeout=httpx.Timeout(5, read=0.1)) as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.get(f"{base}/")


async def test_waiting_too_long_for_a_free_connection_is_a_timeout() -> None:
    """With one connection allowed, held by a body still coming, the next request gives
    up after the pool and connect timeouts (httpx's TimeoutException, as httpx's pool)."""
    async with server() as (url, _ports):
        limits = httpx.Limits(max_connections=1)
        async with client(limits, timeout=httpx.Timeout(5, connect=0.1, pool=0.1)) as c:
            async with c.stream("GET", f"{url}hold"):
                with pytest.raises(httpx.TimeoutException):
                    await c.get(url)


async def test_a_refused_connection_is_httpxs_connect_error_without_the_address() -> None:
    """Refused: httpx's ConnectError, whose words (shown to members in the backend's error
    sentence) do not give the server's address away."""
    port = unused_port()
    async with client() as c:
        with pytest.raises(httpx.ConnectError) as raised:
            await c.get(f"http://127.0.0.1:{port}/")
    assert raised.value.request.url.port == port
    assert str(raised.value) == os.strerror(errno.ECONNREFUSED)


async def test_an_answer_cut_short_is_httpxs_protocol_error() -> None:
    """The server promises 100 bytes, sends 10 and closes: reading the body raises
    httpx's RemoteProtocolError (what httpx's own transport raises there)."""

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        await writer.drain()
        writer.close()

    listening = await asyncio.start_server(cut, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        async with client() as c:
            with pytest.raises(httpx.RemoteProtocolError):
                await c.get(f"http://127.0.0.1:{port}/")
    finally:
        listening.close()
        await listening.wait_closed()


def test_one_transport_serves_one_loop_after_another() -> None:
    """A transport used from a later event loop, once the first has closed, opens its
    own connections there (aiohttp's belong to one loop)."""
    transport = AiohttpTransport(LIMITS)

    async def ask() -> int:
        async with server() as (url, _ports):
            async with httpx.AsyncClient(transport=transport) as c:
                return (await c.get(url)).status_code

    assert asyncio.run(ask()) == 200
    assert asyncio.run(ask()) == 200


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


async def test_tls_is_verified_against_httpxs_roots(certificate: tuple[Path, Path]) -> None:
    """Over TLS a certificate the given context trusts is accepted and its connection
    kept; by default (httpx's roots) a self-signed one is refused with ConnectError."""
    cert, key = certificate
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    async with server(tls=served) as (url, ports):
        trusted = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(transport=AiohttpTransport(LIMITS, verify=trusted)) as c:
            for _ in range(3):
                assert (await c.get(url)).status_code == 200
        assert len(ports) == 1
        async with client() as c:
            with pytest.raises(httpx.ConnectError):
                await c.get(url)
