"""Several `couplet run` processes against one local Discord, one PostgreSQL and one Redis:
the pieces the multi-process tests and the benchmark share.

- `ScaleStub`: an OpenAI-compatible backend in the test's loop that records each
  request and can hold requests with a given prompt until released.
- `sharded_world(fake)`: a server on each of two shards (Discord routes a server's
  events by `(id >> 22) % shard_count`), with members and an admin.
- `BotCluster`: starts, stops and kill -9s `couplet run` processes, each with its
  shards and METRICS_PORT, and reads their /metrics with Prometheus' own parser.
- `eventually(check, what)`: waits for an async condition (a metric, a row).
- `two_processes(...)`: all of the above at once — a server on each of two shards,
  process p1 running shard 0 and p2 shard 1, on a fresh migrated database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot.cluster import IDENTIFY_INTERVAL
from bot.sandbox import FakeDiscord
from bot.sandbox import permissions as perm
from bot.sandbox.world import Guild
from bot.storage import Database
from tests.e2e.conftest import serve
from tests.support.cli import couplet_command
from tests.support.discord_env import BotProcess, running_fake, running_process, wait_until
from tests.support.postgres import PostgresCluster, free_port
from tests.support.redis import RedisServer, flush

WAIT = 180.0
STUB_TEXT = " from the stub"


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll an async condition until it holds (generous deadline; never a fixed sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def shard_of(guild: Guild, count: int) -> int:
    return (guild.id >> 22) % count


def sharded_world(fake: FakeDiscord, count: int = 2) -> list[Guild]:
    """One server per shard (index = shard id), each with #general, alice, bob, admin."""
    found: dict[int, Guild] = {shard_of(fake.guild, count): fake.guild}
    fake.guild.add_member("bob")
    number = 0
    while len(found) < count:
        number += 1
        guild = fake.add_guild(f"Server {number}")
        shard = shard_of(guild, count)
        if shard in found:
            continue  # an id on a shard already covered; try another
        guild.add_channel("general")
        for name in ("alice", "bob"):
            guild.add_member(name)
        guild.add_member("admin", roles=[guild.add_role("Admin", perm.ADMINISTRATOR)])
        found[shard] = guild
    return [found[shard] for shard in range(count)]


@dataclass
class ScaleStub:
    """A backend that answers "<STUB_TEXT> (<prompt>)" (and " #i" for choice i > 0 of `n`;
    logprobs when asked) and records every request."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    holds: dict[str, asyncio.Event] = field(default_factory=dict)
    base_url: str = ""

    def hold(self, prompt: str) -> asyncio.Event:
        """Requests with this prompt wait until the returned event is set."""
        self.holds[prompt] = asyncio.Event()
        return self.holds[prompt]

    def with_prompt(self, prompt: str) -> list[dict[str, Any]]:
        return [body for body in self.requests if body.get("prompt") == prompt]

    async def completions(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        prompt = str(body.get("prompt", ""))
        gate = self.holds.get(prompt)
        if gate is not None:
            await gate.wait()
        return web.json_response(
            {
                "id": "cmpl-scale",
                "object": "text_completion",
                "created": int(time.time()),
                "model": "stub-model",
                # `n` choices, as vLLM gives; each after the first says its number.
                "choices": [
                    self.choice(i, f"{STUB_TEXT} ({prompt})" + (f" #{i}" if i else ""), body)
                    for i in range(int(body.get("n") or 1))
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 7, "total_tokens": 10},
            }
        )

    @staticmethod
    def choice(index: int, text: str, body: dict[str, Any]) -> dict[str, Any]:
        """One choice; with `logprobs` asked for, the text as one token of logprob
        -1 - index/10 (so choices differ)."""
        logprobs = None
        if body.get("logprobs") is not None:
            value = -1.0 - index / 10
            logprobs = {
                "tokens": [text],
                "token_logprobs": [value],
                "top_logprobs": [{text: value}],
                "text_offset": [0],
            }
        return {"index": index, "text": text, "finish_reason": "stop", "logprobs": logprobs}

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "object": "list",
                "data": [{"id": "stub-model", "object": "model", "owned_by": "vllm"}],
            }
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ScaleStub]:
        app = web.Application()
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_get("/v1/models", self.models)
        async with serve(app) as url:
            self.base_url = url + "/v1"
            try:
                yield self
            finally:
                for gate in self.holds.values():
                    gate.set()


@dataclass
class Process:
    """One running `couplet run`."""

    name: str
    shards: list[int]
    metrics_port: int
    handle: BotProcess
    stack: contextlib.AsyncExitStack

    def log(self) -> str:
        return self.handle.output()

    async def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of its /metrics, parsed by prometheus_client's text parser."""
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.get(f"http://127.0.0.1:{self.metrics_port}/metrics")
        response.raise_for_status()
        samples = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    async def metric(self, name: str, **labels: str) -> float:
        return (await self.metrics()).get((name, tuple(sorted(labels.items()))), 0.0)

    async def readyz(self) -> tuple[int, dict[str, Any]]:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.get(f"http://127.0.0.1:{self.metrics_port}/readyz")
        return response.status_code, response.json()


@dataclass
class BotCluster:
    """`couplet run` processes sharing one Discord, database, Redis and backend."""

    fake: FakeDiscord
    env: dict[str, str]
    logs: Path
    shard_count: int = 2
    processes: list[Process] = field(default_factory=list)
    started: int = 0

    async def start(self, shards: list[int], *, name: str | None = None) -> Process:
        """Start a process running `shards`; return once each of them is connected."""
        self.started += 1
        name = name or f"p{self.started}"
        port = free_port()
        env = {
            **self.env,
            "SHARD_COUNT": str(self.shard_count),
            "SHARD_IDS": ",".join(map(str, shards)),
            "METRICS_PORT": str(port),
        }
        since = len(self.fake.identify_log)
        stack = contextlib.AsyncExitStack()
        first = not self.fake.commands_synced.is_set()
        handle = await stack.enter_async_context(
            running_process(
                self.fake,
                [*couplet_command(), "run", "--require-token"],
                env=env,
                log_path=str(self.logs / f"{name}.log"),
                timeout=WAIT,
                wait_sync=first,
            )
        )
        process = Process(name, shards, port, handle, stack)
        self.processes.append(process)
        await wait_until(
            lambda: (
                {s for _, s, _ in self.fake.identify_log[since:]} >= set(shards)
                and all(self.live(s, process) for s in shards)
            ),
            f"{name} to connect shards {shards}",
            WAIT,
        )
        await wait_until(lambda: _answers(port), f"{name}'s metrics endpoint", WAIT)
        return process

    def live(self, shard: int, process: Process | None = None) -> bool:
        return any(
            s.live and s.shard_id == shard and s.shard_count == self.shard_count
            for s in self.fake.sessions
        )

    async def stop(self, process: Process) -> None:
        """SIGTERM, as a deploy does; waits for the process to end."""
        await process.stack.aclose()
        self.processes.remove(process)

    async def kill(self, process: Process) -> None:
        """kill -9: no clean-up of any kind."""
        os.kill(process.handle.process.pid, signal.SIGKILL)
        await asyncio.to_thread(process.handle.process.wait)
        await process.stack.aclose()  # nothing left to stop; checks its output
        self.processes.remove(process)

    async def aclose(self) -> None:
        for process in list(self.processes):
            await self.stop(process)


def _answers(port: int) -> bool:
    import socket

    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


def process_env(database_url: str, redis_url: str, backend_url: str) -> dict[str, str]:
    """Settings every process of the cluster shares."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "COMPLETIONS_BASE_URL": backend_url,
        "COMPLETIONS_BACKEND": "vllm",
        "COMPLETIONS_TIMEOUT": "120",
        # The offline classifier loads a model per process; these tests are not about it.
        "MODERATION_CLASSIFIER": "false",
        "LOG_LEVEL": "INFO",
        "DISCORD_SYNC": "auto",
    }


@dataclass
class TwoProcesses:
    """A local Discord with a server on each of two shards; p1 runs shard 0, p2 shard 1."""

    fake: FakeDiscord
    stub: ScaleStub
    cluster: BotCluster
    guilds: list[Guild]
    db: Database
    p1: Process
    p2: Process


World = TypeVar("World", bound=TwoProcesses)


@contextlib.asynccontextmanager
async def two_processes(
    world: type[World],
    postgres_cluster: PostgresCluster,
    redis_server: RedisServer,
    logs: Path,
    *,
    members: tuple[str, ...] = (),
    after_p1: Callable[[Process], Awaitable[None]] | None = None,
) -> AsyncIterator[World]:
    """Start both processes on a fresh migrated database and an emptied Redis, with
    `members` in each server; `after_p1` runs before p2 starts (to let p1 take a lease)."""
    flush(redis_server.url)
    database_url = postgres_cluster.create_database(template=postgres_cluster.migrated_template())
    async with (
        running_fake(identify_interval=IDENTIFY_INTERVAL, max_concurrency=1) as fake,
        ScaleStub().running() as stub,
    ):
        guilds = sharded_world(fake)
        for guild in guilds:
            for name in members:
                guild.add_member(name)
        cluster = BotCluster(fake, process_env(database_url, redis_server.url, stub.base_url), logs)
        db = Database(database_url)
        try:
            p1 = await cluster.start([0], name="p1")
            if after_p1 is not None:
                await after_p1(p1)
            p2 = await cluster.start([1], name="p2")
            yield world(fake, stub, cluster, guilds, db, p1, p2)
        finally:
            await cluster.aclose()
            await db.dispose()
