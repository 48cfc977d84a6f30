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
once, when it connects.

The poll itself is a system call too, asked for every idle connection (about
45 per `/complete` at 20 in flight, 8.5 µs each in Couplet's loop against 1.4
in the floor's). So the first question in a turn of the event loop polls every
socket of the pool at once, and the other questions of that turn are answered
from it (`IdleSockets`): a server closing a connection is seen by the next
turn's poll, as it would be by the next question's. An answer is only reused
for a stream that has not read since the poll.

httpcore's pool also walks its connections quadratically: each time a
request starts or ends it counts the pool once per idle connection, a list of
`is_idle()` calls each time — about 790 calls per request at 20 in flight
with 13 connections (bench/README.md, item 25). So the connections are split
over `POOL_SHARDS` of httpx's pools (`ShardedTransport`), each with its share
of the limits, and a request goes to the one with the fewest requests open:
a quarter of the connections each, a sixteenth of the walking.

Everything else is httpx's and httpcore's: each pool, its limits, proxies,
TLS, timeouts and errors.
"""

from __future__ import annotations

import asyncio
import math
import select
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import httpcore
import httpx

# poll() has no limit on descriptor numbers; select() only where poll is missing.
_HAS_POLL = hasattr(select, "poll")
# httpx pools one model server's connections are split over (see the module doc).
POOL_SHARDS = 4


def readable(sock: socket.socket | None) -> bool:
    """Whether reading `sock` would not block: data, or the end a closed peer left.

    A socket that is gone counts as readable, so its connection is dropped.
    """
    fd = _descriptor(sock)
    return fd < 0 or fd in ready_among([fd])


def _descriptor(sock: socket.socket | None) -> int:
    """The socket's file descriptor; -1 when there is no socket or it is closed."""
    return -1 if sock is None else sock.fileno()


def ready_among(fds: list[int]) -> set[int]:
    """Which of these open descriptors are readable (or closed by the peer), in one call."""
    if not fds:
        return set()
    if _HAS_POLL:
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        return {fd for fd, _events in poller.poll(0)}
    ready, _, _ = select.select(fds, [], [], 0)
    return set(ready)


class IdleSockets:
    """Whether a pool's connections are readable, polled together once a loop turn.

    httpcore asks about each idle connection in turn, several times a request;
    the first question of a turn polls every live socket of the pool and the
    answers are kept until the loop's next turn. A stream that has read since
    then is polled again on its own: its answer may have changed.
    """

    def __init__(self) -> None:
        self.streams: set[SocketOnce] = set()
        # This turn's answers (stream → its reads when polled, readable), and whose turn.
        self._turn: tuple[asyncio.AbstractEventLoop, dict[SocketOnce, tuple[int, bool]]] | None
        self._turn = None

    def readable(self, stream: SocketOnce) -> bool:
        if self._turn is None or self._turn[0].is_closed():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # asked outside the loop: no turn to share answers in
                return readable(stream.socket)
            self._turn = (loop, self._poll())
            loop.call_soon(self._expire)
        answer = self._turn[1].get(stream)
        if answer is None or answer[0] != stream.reads:
            return readable(stream.socket)
        return answer[1]

    def _poll(self) -> dict[SocketOnce, tuple[int, bool]]:
        by_fd: dict[int, SocketOnce] = {}
        for stream in list(self.streams):
            fd = _descriptor(stream.socket)
            if fd < 0:
                self.streams.discard(stream)  # closed: nothing to poll, and readable() says so
            else:
                by_fd[fd] = stream
        ready = ready_among(list(by_fd))
        return {stream: (stream.reads, fd in ready) for fd, stream in by_fd.items()}

    def _expire(self) -> None:
        self._turn = None


class SocketOnce(httpcore.AsyncNetworkStream):
    """A connection's stream that remembers its socket instead of asking for it."""

    def __init__(self, stream: httpcore.AsyncNetworkStream, idle: IdleSockets) -> None:
        self._stream, self._idle = stream, idle
        self.socket: socket.socket | None = stream.get_extra_info("socket")
        self.reads = 0  # reads finished: an answer polled before the last one is stale
        idle.streams.add(self)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        try:
            return await self._stream.read(max_bytes, timeout)
        finally:
            self.reads += 1

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        self._idle.streams.discard(self)
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        tls = await self._stream.start_tls(ssl_context, server_hostname, timeout)
        self._idle.streams.discard(self)  # the TLS stream is the connection's from now on
        return SocketOnce(tls, self._idle)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return self._idle.readable(self)
        if info == "socket":
            return self.socket
        return self._stream.get_extra_info(info)


class _SocketOnceBackend(httpcore.AsyncNetworkBackend):
    """httpcore's backend, its streams wrapped in `SocketOnce`."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend, idle: IdleSockets) -> None:
        self._backend = backend
        self._idle = idle

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return SocketOnce(stream, self._idle)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_unix_socket(path, timeout, socket_options)
        return SocketOnce(stream, self._idle)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class ShardedTransport(httpx.AsyncBaseTransport):
    """Several transports, each its own pool; a request goes to the one with the fewest
    requests open (the first of those tied, so requests one at a time share one
    connection). A request is open until its response is closed."""

    def __init__(self, shards: list[httpx.AsyncBaseTransport]) -> None:
        if not shards:
            raise ValueError("a sharded transport needs at least one transport")
        self.shards = shards
        self.open = [0] * len(shards)  # requests open on each

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = self.open.index(min(self.open))
        self.open[index] += 1
        try:
            response = await self.shards[index].handle_async_request(request)
        except BaseException:
            self.open[index] -= 1
            raise
        response.stream = _ClosingOnce(response.stream, lambda: self._closed(index))
        return response

    def _closed(self, index: int) -> None:
        self.open[index] -= 1

    async def aclose(self) -> None:
        for shard in self.shards:
            await shard.aclose()


class _ClosingOnce(httpx.AsyncByteStream):
    """A response's stream that tells `closed` once, when it is closed."""

    def __init__(self, stream: Any, closed: Callable[[], None]) -> None:
        self._stream = stream
        self._closed: Callable[[], None] | None = closed

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()  # the chunks as they come, without a layer of our own

    async def aclose(self) -> None:
        closed, self._closed = self._closed, None
        try:
            await self._stream.aclose()
        finally:
            if closed is not None:
                closed()


def backend_transport(
    limits: httpx.Limits, *, shards: int = POOL_SHARDS, **options: Any
) -> httpx.AsyncBaseTransport:
    """httpx's transport with `limits` (and httpx's `options`, e.g. `verify`), its
    connections' sockets looked up once, split over `shards` pools (each with its
    share of the limits: see the module doc).

    httpx does not take a network backend, so it is set on each pool it built;
    should a future httpx build its pool differently, the transports are left as
    httpx made them (the same requests, without the saving).
    """
    idle = IdleSockets()  # one poll a loop turn for every pool's sockets

    def share(total: int | None) -> int | None:
        return None if total is None else max(1, math.ceil(total / shards))

    each = httpx.Limits(
        max_connections=share(limits.max_connections),
        max_keepalive_connections=share(limits.max_keepalive_connections),
        keepalive_expiry=limits.keepalive_expiry,
    )
    transports: list[httpx.AsyncBaseTransport] = []
    for _ in range(shards):
        transport = httpx.AsyncHTTPTransport(limits=each, **options)
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(pool, httpcore.AsyncConnectionPool) and backend is not None:
            pool._network_backend = _SocketOnceBackend(backend, idle)
        transports.append(transport)
    return transports[0] if shards == 1 else ShardedTransport(transports)
