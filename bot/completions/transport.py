"""The HTTP transport to model servers: httpx's client, aiohttp's connections.

Couplet talks to a model server through an `httpx.AsyncClient` (its requests,
responses, timeouts, errors, redirects, cookies, decoding and proxies from the
environment). Below it, httpx's own transport (httpcore over anyio) cost about
1.9 ms of CPU per small request on this machine; the same request through
aiohttp's connection pool, with its C parser, costs about 1.1 ms with httpx's
client on top (bench/README.md, item 27). aiohttp is here anyway: discord.py
sends everything to Discord with it.

So `AiohttpTransport` is an `httpx.AsyncBaseTransport` that sends each request
with one `aiohttp.ClientSession` and hands the response back to httpx as it
arrives: status and headers first, the body streamed chunk by chunk, still
encoded (httpx decodes gzip and the rest). aiohttp's own extras are off:
no cookie jar (httpx keeps the cookies), no redirects (httpx follows them when
asked), no default headers (httpx sets them all), no proxies from the
environment (httpx mounts its own transports for those).

Timeouts are httpx's, per request: `connect` is aiohttp's `sock_connect`,
`connect` + `pool` its `connect` (a free connection, waited for, then opened),
`read` its `sock_read` (between two reads). aiohttp has no write timeout; the
requests are small JSON bodies. aiohttp's errors become httpx's
(`ConnectError`, `ConnectTimeout`, `ReadTimeout`, `RemoteProtocolError`…), so
callers catch `httpx.HTTPError` as before, also while a stream is read.

httpx's limits: `max_connections` is aiohttp's `limit` (requests beyond it wait
for a connection); `max_keepalive_connections` has no counterpart — every
idle connection is kept `keepalive_expiry` seconds. A connection the server
closed is dropped by aiohttp when the event loop sees it close; a request
never goes out on it.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import AsyncIterator
from typing import NoReturn

import aiohttp
import httpx
import yarl

# Headers aiohttp would add when httpx's request has none of its own.
_NOT_ADDED = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
# Framing aiohttp sets from the body it is given (httpx's copies would be doubled).
_FRAMING = frozenset({"content-length", "transfer-encoding"})
# Seconds an idle connection is kept when httpx's limits say "no expiry".
KEPT_WITHOUT_EXPIRY = 300.0


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx requests sent over an aiohttp connection pool (see the module doc): at
    most `limits.max_connections` open, idle ones kept `limits.keepalive_expiry`
    seconds; `verify` as httpx's.

    The session is made on first use, in the event loop that uses it (aiohttp's
    connections belong to one loop); a transport used from a later loop, once the
    first has closed, makes a new one."""

    def __init__(self, limits: httpx.Limits, *, verify: ssl.SSLContext | bool = True) -> None:
        self.limits = limits
        # httpx's context (certifi's roots, SSL_CERT_FILE…), not aiohttp's default.
        trusted = verify if isinstance(verify, ssl.SSLContext) else None
        self._ssl = trusted or httpx.create_ssl_context(verify=verify)  # 0.27: cert first
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the session's

    def session(self) -> aiohttp.ClientSession:
        """The session of the running loop (made when there is none yet)."""
        session, loop = self._session, asyncio.get_running_loop()
        if session is None or session.closed or self._loop is not loop:
            expiry = self.limits.keepalive_expiry
            connector = aiohttp.TCPConnector(
                limit=self.limits.max_connections or 0,  # 0: no limit, as None in httpx
                keepalive_timeout=KEPT_WITHOUT_EXPIRY if expiry is None else expiry,
                ssl=self._ssl,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=_NOT_ADDED,
                auto_decompress=False,
                trust_env=False,
            )
            self._session, self._loop = session, loop
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in _FRAMING]
        timeout = request.extensions.get("timeout", {})
        connect, pool = timeout.get("connect"), timeout.get("pool")
        try:
            response = await self.session().request(
                request.method,
                yarl.URL(str(request.url), encoded=True),  # httpx has encoded it
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=None if connect is None or pool is None else connect + pool,
                    sock_connect=connect,
                    sock_read=timeout.get("read"),
                ),
            )
        except (aiohttp.ClientError, TimeoutError) as err:
            _raise_as_httpx(err, request)
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and self._loop is asyncio.get_running_loop():
            await session.close()


class _Body(httpx.AsyncByteStream):
    """A response's body as aiohttp reads it; its connection goes back to the pool
    once the body was read to the end, and is closed if the body was left unread."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as err:
            _raise_as_httpx(err, self._request)

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


def _raise_as_httpx(err: BaseException, request: httpx.Request) -> NoReturn:
    """Raise httpx's error for aiohttp's `err` (the original as its cause)."""
    message = _message(err)
    kind: type[httpx.TransportError]
    if isinstance(err, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout
    elif isinstance(err, TimeoutError):  # sock_read, and aiohttp's other timeouts
        kind = httpx.ReadTimeout
    elif isinstance(err, aiohttp.ClientConnectorError):  # refused, DNS, TLS handshake
        kind = httpx.ConnectError
    elif isinstance(
        err,
        (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError),
    ):  # closed before the whole answer came, or a malformed status line or header
        kind = httpx.RemoteProtocolError
    elif isinstance(err, aiohttp.ClientOSError):
        kind = httpx.ReadError
    else:
        kind = httpx.TransportError
    raise kind(message, request=request) from err


def _message(err: BaseException) -> str:
    """What went wrong, without the server's address (users may read it, as they read
    httpx's "All connection attempts failed")."""
    if isinstance(err, aiohttp.ClientConnectorCertificateError):
        return str(err.certificate_error)
    if isinstance(err, aiohttp.ClientConnectorError):
        cause = err.os_error  # "Connect call failed ('10.0.0.5', 8000)": the errno's words
        if cause.errno and cause.errno > 0:
            return os.strerror(cause.errno)
        return cause.strerror or type(cause).__name__
    return str(err) or type(err).__name__
