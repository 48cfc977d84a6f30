"""Several model servers of the same models behind one client (COMPLETIONS_BASE_URL
with several URLs, say vLLM replicas), and the one retry loop every request uses.

- A request goes to the server with the fewest requests in flight (ties in
  turn). With an `affinity` key (a story's id) it goes to the same server each
  time — the one the key hashes highest with (rendezvous hashing), so keys
  spread over the servers and stay put when another server leaves — unless
  that server has `AFFINITY_SLACK` more in flight than the least busy one.
- A server that fails (connection refused or reset, a timeout, a 5xx) is taken
  out, and the request moves on at once to another server that is up; the
  failed one is probed (`GET /models`) every `PROBE_INTERVAL` seconds, doubling
  up to `PROBE_MAX`, and comes back when it answers. When every server is out,
  requests still try them (one may be back before its probe says so).
- Retries follow openai-python (see http.py): 2 on 408/409/429/5xx, timeouts
  and connection errors, with backoff or the server's Retry-After. Moving to
  another server after a failure costs no retry and no wait.

One URL is a pool of one: the same code path, no probing needed.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from bot.completions.error_bodies import error_from_response
from bot.completions.http import (
    BackendHTTP,
    ResponseFailed,
    Sleep,
    backoff_delay,
    redact_headers,
)
from bot.errors import BackendError

log = logging.getLogger(__name__)

T = TypeVar("T")

# A preferred (affinity) server is used unless it has this many more requests in
# flight than the least busy server.
AFFINITY_SLACK = 2
# Seconds before a failed server is first probed, and the most between probes.
PROBE_INTERVAL = 1.0
PROBE_MAX = 10.0
PROBE_TIMEOUT = 5.0


@dataclass(eq=False)
class Server:
    """One model server of the pool, with what the pool knows of it."""

    http: BackendHTTP
    index: int
    in_flight: int = 0
    up: bool = True
    requests: int = 0  # attempts sent to it
    failures: int = 0  # attempts that failed on its side
    _probe: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return self.http.base_url


def server_fault(error: BaseException) -> bool:
    """Whether a failed attempt says the server itself is unwell (take it out)."""
    if isinstance(error, httpx.HTTPError):
        return True  # refused, reset, timed out: nothing usable came back
    if isinstance(error, ResponseFailed):
        return error.response.status_code >= 500
    return False


class ServerPool:
    """The model servers behind one CompletionsClient (see the module docstring)."""

    def __init__(
        self,
        servers: Sequence[BackendHTTP],
        *,
        max_retries: int = 2,
        sleep: Sleep = asyncio.sleep,
        probe_interval: float = PROBE_INTERVAL,
        probe_max: float = PROBE_MAX,
    ) -> None:
        if not servers:
            raise ValueError("a pool needs at least one server")
        self.servers = [Server(http, i) for i, http in enumerate(servers)]
        self.max_retries = max_retries
        self.sleep = sleep
        self.probe_interval = probe_interval
        self.probe_max = probe_max
        self._turn = itertools.count()

    @property
    def first(self) -> BackendHTTP:
        return self.servers[0].http

    @property
    def key(self) -> str:
        """Names the pool (its URLs), e.g. for the queue to it."""
        return ",".join(server.url for server in self.servers)

    @property
    def backend_label(self) -> str:
        return self.first.backend_label

    @backend_label.setter
    def backend_label(self, label: str) -> None:
        for server in self.servers:
            server.http.backend_label = label

    def redact(self, text: str) -> str:
        return self.first.redact(text)

    async def aclose(self) -> None:
        for server in self.servers:
            if server._probe is not None:
                server._probe.cancel()
        await asyncio.gather(
            *(s._probe for s in self.servers if s._probe is not None), return_exceptions=True
        )
        for server in self.servers:
            await server.http.aclose()

    # -- choosing a server ----------------------------------------------------------

    def pick(self, affinity: str | None = None, avoid: Sequence[Server] = ()) -> Server:
        """The server for the next attempt (see the module docstring)."""
        candidates = [s for s in self.servers if s.up and s not in avoid]
        if not candidates:
            candidates = [s for s in self.servers if s.up] or list(self.servers)
        least = min(s.in_flight for s in candidates)
        if affinity is not None and len(candidates) > 1:
            preferred = max(candidates, key=lambda s: _weight(affinity, s.url))
            if preferred.in_flight <= least + AFFINITY_SLACK:
                return preferred
        idle = [s for s in candidates if s.in_flight == least]
        return idle[next(self._turn) % len(idle)]

    # -- the retry loop -------------------------------------------------------------

    async def with_retries(
        self, attempt: Callable[[Server], Awaitable[T]], *, affinity: str | None = None
    ) -> T:
        """Run `attempt` on a server until it succeeds or the policy says stop.

        `attempt` raises `httpx.HTTPError` when no answer came or
        `ResponseFailed` for an error status; anything else it raises is final.
        A server fault moves the next attempt to another server that is up, at
        once and without counting as a retry; other failures are retried per
        openai-python's policy. The last failure is raised as a typed
        BackendError with secrets redacted.
        """
        retries = 0
        failed_here: list[Server] = []
        while True:
            server = self.pick(affinity, failed_here)
            server.in_flight += 1
            server.requests += 1
            try:
                result = await attempt(server)
            except (httpx.HTTPError, ResponseFailed) as err:
                error, delay, why = self._plan(server, err, retries)
                if server_fault(err):
                    self.mark_down(server, why)
                    failed_here.append(server)
                    if any(s.up and s not in failed_here for s in self.servers):
                        log.info("moving a request from %s to another server: %s", server.url, why)
                        continue
                if delay is None:
                    raise error from (err if isinstance(err, httpx.HTTPError) else None)
                log.info(
                    "retrying %s request in %.2f s (retry %d of %d): %s",
                    self.backend_label,
                    delay,
                    retries + 1,
                    self.max_retries,
                    why,
                )
                await self.sleep(delay)
                retries += 1
            else:
                self.mark_up(server)
                return result
            finally:
                server.in_flight -= 1

    def _plan(
        self, server: Server, err: httpx.HTTPError | ResponseFailed, retries: int
    ) -> tuple[BackendError, float | None, str]:
        """The typed error for a failed attempt, the wait before retrying (None: don't),
        and a short reason for the log."""
        http = server.http
        if isinstance(err, httpx.HTTPError):
            error = http.transport_error(err)
            delay = backoff_delay(retries) if retries < self.max_retries else None
            return error, delay, error.message
        error = error_from_response(err.response, http.backend_label)
        error.message = http.redact(error.message)
        status = err.response.status_code
        return error, http.retry_plan(err.response, error, retries), f"HTTP {status}"

    # -- health -----------------------------------------------------------------------

    def mark_down(self, server: Server, why: str) -> None:
        """Take a server out after a failure, and probe it until it answers."""
        server.failures += 1
        if len(self.servers) == 1:
            return  # nowhere else to go: every request tries it anyway
        if server.up:
            log.warning("model server %s is out of the pool: %s", server.url, why)
        server.up = False
        if server._probe is None or server._probe.done():
            server._probe = asyncio.create_task(
                self._probe_until_up(server), name=f"couplet-probe-{server.index}"
            )

    def mark_up(self, server: Server) -> None:
        if not server.up:
            log.info("model server %s is back in the pool", server.url)
        server.up = True

    async def _probe_until_up(self, server: Server) -> None:
        interval = self.probe_interval
        while not server.up:
            await asyncio.sleep(interval)
            if await self.probe(server):
                self.mark_up(server)
                return
            interval = min(interval * 2, self.probe_max)

    async def probe(self, server: Server) -> bool:
        """Whether the server answers its model list now (one try, short timeout)."""
        try:
            response = await server.http.client.get(
                server.http.url("models"), timeout=PROBE_TIMEOUT
            )
        except httpx.HTTPError:
            return False
        return response.status_code < 500

    @property
    def healthy(self) -> int:
        """How many servers are up."""
        return sum(server.up for server in self.servers)

    # -- requests ----------------------------------------------------------------------

    async def request_json(
        self, method: str, path: str, payload: Any = None, *, affinity: str | None = None
    ) -> Any:
        """Send one request (`path` under the base URL, or from the server root when it
        starts with `/`) with retries and return the decoded JSON body."""

        async def attempt(server: Server) -> Any:
            http = server.http
            url = f"{http.root_url}{path}" if path.startswith("/") else http.url(path)
            if log.isEnabledFor(logging.DEBUG):  # the redaction costs more than the request
                headers = redact_headers(dict(http.client.headers))
                log.debug("%s %s headers=%s", method, url, headers)
            response = await http.client.request(method, url, json=payload)
            if not response.is_success:
                raise ResponseFailed(response)
            return http.decode(response)

        return await self.with_retries(attempt, affinity=affinity)


def _weight(affinity: str, url: str) -> int:
    """The rendezvous weight of a server for a key (stable across processes)."""
    return int.from_bytes(hashlib.sha1(f"{affinity}|{url}".encode()).digest()[:8], "big")
