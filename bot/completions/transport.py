"""The HTTP transport to model servers: httpx's own, with a cheaper look at idle connections.

Before each request and again when its response is closed, httpcore's pool
asks every idle keep-alive connection whether the server has closed it (its
socket is readable). Through anyio each question first builds the socket's
table of attributes, which calls `getpeername()` — a system call, during which
the event loop gives up the GIL — before polling the socket. With 20 requests
in flight (about 15 idle connections at a time) that was about 60
`getpeername` calls per `/complete`, each a chance for the SQLite writer thread
to take the GIL from the event loop (7 µs a call in Couplet's loop against 1.4
in a bot without that thread). Here each connection's socket is looked up
once, when it connects; the poll that finds a closed connection stays.

Everything else is httpx's and httpcore's: the pool, its limits, proxies,
TLS, timeouts and errors.
"""

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

# poll() has no limit on descriptor numbers; select() only where poll is missing.
_HAS_POLL = hasattr(select, "poll")


def readable(sock: socket.socket | None) -> bool:
    """Whether reading `sock` would not block: data, or the end a closed peer left.

    A socket that is gone counts as readable, so its connection is dropped.
    """
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    if _HAS_POLL:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    ready, _, _ = select.select([fd], [], [], 0)
    return bool(ready)


class _SocketOnce(httpcore.AsyncNetworkStream):
    """A connection's stream that remembers its socket instead of asking for it."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._socket: socket.socket | None = stream.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        return _SocketOnce(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return readable(self._socket)
        if info == "socket":
            return self._socket
        return self._stream.get_extra_info(info)


class _SocketOnceBackend(httpcore.AsyncNetworkBackend):
    """httpcore's backend, its streams wrapped in `_SocketOnce`."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _SocketOnce(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _SocketOnce(await self._backend.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def backend_transport(limits: httpx.Limits, **options: Any) -> httpx.AsyncHTTPTransport:
    """httpx's transport with `limits` (and httpx's `options`, e.g. `verify`), its
    connections' sockets looked up once.

    httpx does not take a network backend, so it is set on the pool it built;
    should a future httpx build its pool differently, the transport is left as
    httpx made it (the same requests, without the saving).
    """
    transport = httpx.AsyncHTTPTransport(limits=limits, **options)
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(pool, httpcore.AsyncConnectionPool) and backend is not None:
        pool._network_backend = _SocketOnceBackend(backend)
    return transport
