"""What the interaction benches share: a bot process under test, its emulator and stub backend.

A `Subject` is one bot (`couplet run`, or the floor bot) running as its own
process against its own Discord emulator and instant stub backend, both in
the bench's process. `Subject.fire` sends interactions (at most N in flight)
and measures answers per second, the bot's overhead per interaction (dispatch
to answer, minus the time the backend spent) and the bot process's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from bot.sandbox import FakeDiscord  # noqa: E402
from bot.sandbox.interactions import InteractionRecord  # noqa: E402
from bot.sandbox.limits import EPHEMERAL  # noqa: E402
from bot.sandbox.stub_completions import StubCompletions  # noqa: E402
from bot.sandbox.world import Member  # noqa: E402
from tests.support.discord_env import BotProcess, running_process  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
# Interactions in flight at most; each comes from a member of its own (Couplet
# runs one generation per member at a time, as a server full of people would).
MEMBERS = 300
# Discord's 3 seconds for the first response, widened: on a shared, loaded
# machine hundreds of interactions dispatched at once can take longer than that
# to be acknowledged by any bot, and a refused one would drop out of the
# figures. The overheads printed show when a bot would have been too late.
RESPONSE_WINDOW = 30.0
T = TypeVar("T")
# -P: no current directory on sys.path, so `bot` comes from PYTHONPATH or the install
# (a --baseline checkout must not pick up the one the bench runs in).
COUPLET_COMMAND = [
    sys.executable,
    "-P",
    "-c",
    "import sys; from bot.cli import main; sys.exit(main())",
]
FLOOR_COMMAND = [sys.executable, str(ROOT / "bench" / "floor_bot.py")]


def add_env_option(parser: argparse.ArgumentParser) -> None:
    """`--env KEY=VALUE` (repeatable): a setting for every Couplet a bench starts."""
    parser.add_argument(
        "--env", action="append", metavar="KEY=VALUE", help="a setting for Couplet (repeatable)"
    )


def env_settings(items: Sequence[str] | None) -> dict[str, str]:
    """The `--env` items as environment variables."""
    return dict(item.split("=", 1) for item in items or [])


@asynccontextmanager
async def reported(name: str, process: AbstractAsyncContextManager[T]) -> AsyncIterator[T]:
    """`running_process`, whose complaints at exit (a logged traceback, a refused body)
    are printed instead of raised: the figures already measured still get shown."""
    try:
        async with process as running:
            yield running
    except AssertionError as complaint:
        print(f"  {name}: {str(complaint)[:1500]}", file=sys.stderr)


class TimedStub(StubCompletions):
    """The instant stub backend, also recording how long each prompt spent in it."""

    def __init__(self) -> None:
        super().__init__()
        self.spent: dict[str, float] = {}

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        start = time.perf_counter()
        response = await super()._complete(request)
        # The prompt is read again from the parsed body aiohttp cached.
        body = await request.json()
        self.spent[str(body.get("prompt"))] = time.perf_counter() - start
        return response


def proc_stats(pid: int) -> tuple[float, int, int]:
    """(CPU seconds, RSS bytes, peak RSS bytes) of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    rss = peak = 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) * 1024
    return cpu, rss, peak


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def quantile(values: Sequence[float], q: int) -> float:
    """The q-th percentile (1..99); 0 without values."""
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass
class Batch:
    """One measured batch of interactions."""

    count: int
    answered: int
    wall: float
    overheads: list[float]
    cpu: float  # bot process CPU seconds during the batch
    emulator_cpu: float  # this process (emulator + stub) CPU seconds

    @property
    def rate(self) -> float:
        return self.answered / self.wall if self.wall else 0.0

    @property
    def p50(self) -> float:
        return quantile(self.overheads, 50)

    @property
    def p99(self) -> float:
        return quantile(self.overheads, 99)

    @property
    def cpu_per(self) -> float:
        return self.cpu / max(self.answered, 1)

    @property
    def emulator_cpu_per(self) -> float:
        return self.emulator_cpu / max(self.answered, 1)

    @property
    def busy(self) -> float:
        """Cores the bot kept busy during the batch (below 1 at 20 in flight: it waited)."""
        return self.cpu / self.wall if self.wall else 0.0


Start = Callable[[int], Awaitable[tuple[InteractionRecord, str | None]]]


def shown_with_buttons(rec: InteractionRecord) -> bool:
    """The answer is there: a message with buttons (a reply, or a page of one)."""
    message = rec.final_message() if rec.answered else None
    return bool(message and message.get("components"))


def settled(rec: InteractionRecord) -> bool:
    """Answered for good: with buttons, or with an ephemeral error sentence (an edit
    saying a request's place in a queue is neither)."""
    if shown_with_buttons(rec):
        return True
    message = rec.final_message() if rec.answered else None
    return bool(message and int(message.get("flags") or 0) & EPHEMERAL)


class Subject:
    """One bot process with its own emulator and stub backend."""

    def __init__(self, name: str, command: Sequence[str], env: dict[str, str] | None = None):
        self.name = name
        self.command = list(command)
        self.env = dict(env or {})
        self.stub = TimedStub()
        self.fake = FakeDiscord(response_window=RESPONSE_WINDOW)
        self.proc: BotProcess | None = None
        self.refusals_seen = 0
        self.members: list[Member] = []

    async def start(
        self,
        stack: AsyncExitStack,
        tmp: Path,
        timeout: float = 120.0,  # noqa: ASYNC109
        backend_url: str | None = None,
    ) -> None:
        """Start the emulator and the bot, on `backend_url` or else the instant stub."""
        if backend_url is None:
            base_url = await self.stub.start()
            stack.push_async_callback(self.stub.stop)
        else:
            base_url = backend_url
        await self.fake.start()
        stack.push_async_callback(self.fake.stop)
        self.members = [self.fake.guild.add_member(f"member{i}") for i in range(MEMBERS)]
        env = {
            "COMPLETIONS_BASE_URL": base_url,
            "COMPLETIONS_MODEL": "stub-model",
            "COMPLETIONS_BACKEND": "vllm",  # n is native there, as it is for the floor
            # No fair queue: it holds requests back on purpose (8 at once by
            # default) and edits each waiting reply with its place, work the
            # floor does not do.
            "COMPLETIONS_CONCURRENCY": "0",
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / f'{self.name}.db'}",
            "DISCORD_SYNC": "global",
            "LOG_LEVEL": "WARNING",
            **self.env,
        }
        self.proc = await stack.enter_async_context(
            reported(
                self.name,
                running_process(
                    self.fake,
                    self.command,
                    env,
                    log_path=str(tmp / f"{self.name}.log"),
                    timeout=timeout,
                ),
            )
        )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.process.pid

    def stats(self) -> tuple[float, int, int]:
        return proc_stats(self.pid)

    # -- interactions ---------------------------------------------------------

    async def complete(self, prompt: str, number: int = 0, **options: Any) -> InteractionRecord:
        """/complete from member `number` (modulo MEMBERS)."""
        member = self.members[number % len(self.members)]
        return await self.fake.slash("complete", dict(options, prompt=prompt), member=member)

    async def fire(
        self,
        start: Start,
        count: int,
        flight: int,
        timeout: float = 120.0,  # noqa: ASYNC109
    ) -> Batch:
        """Run `start(i)` for i < count, at most `flight` at once; wait for each answer.

        `start` dispatches one interaction and returns it with the prompt the
        backend will see (None when the interaction makes no backend call).
        """
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(flight)
        answered: list[float] = []
        overheads: list[float] = []

        async def one(i: int) -> None:
            async with gate:
                sent = loop.time()
                rec, prompt = await start(i)
                await rec.wait_for(lambda r: settled(r) or bool(r.rejections), timeout)
                if shown_with_buttons(rec):
                    done = loop.time()
                    answered.append(done)
                    spent = self.stub.spent.pop(prompt, 0.0) if prompt is not None else 0.0
                    overheads.append(done - sent - spent)

        # The emulators' records make this process's heap large: a full collection
        # of it took 150-220 ms, during which the emulator answered nothing and the
        # measured bot waited. Collected here, between batches, instead.
        gc.collect()
        gc.disable()
        try:
            cpu0 = self.stats()[0]
            own0 = time.process_time()
            begin = loop.time()
            results = await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)
            own = time.process_time() - own0
            cpu = self.stats()[0] - cpu0
        finally:
            gc.enable()
        others = count - len(answered) - sum(isinstance(r, BaseException) for r in results)
        if others:
            print(f"  {self.name}: {others} answered without buttons (errors)", file=sys.stderr)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            print(f"  {self.name}: {len(failures)} failed, e.g. {failures[0]!r}", file=sys.stderr)
        refused = [r for r in self.fake.rejections[self.refusals_seen :]]
        if refused:
            self.refusals_seen = len(self.fake.rejections)
            print(
                f"  {self.name}: the emulator refused {len(refused)}: {refused[0]}", file=sys.stderr
            )
        end = max(answered, default=begin)
        return Batch(count, len(answered), end - begin, overheads, cpu, own)

    async def replies(
        self, count: int, prefix: str, **options: Any
    ) -> list[tuple[dict[str, Any], str]]:
        """`count` answered /complete messages with their prompts (setup for clicks)."""
        prompts = [f"{prefix} {i}" for i in range(count)]
        recs: list[InteractionRecord] = []

        async def start(i: int) -> tuple[InteractionRecord, str | None]:
            rec = await self.complete(prompts[i], i, **options)
            recs.append(rec)
            return rec, prompts[i]

        batch = await self.fire(start, count, 20)
        if batch.answered != count:
            raise RuntimeError(f"{self.name}: only {batch.answered} of {count} setup replies")
        found = []
        for rec in recs:
            message = rec.final_message()
            assert message is not None
            options_sent = rec.payload["data"]["options"]
            prompt = next(o["value"] for o in options_sent if o["name"] == "prompt")
            found.append((message, prompt))
        return found


def through(subject: Subject, wrapper: Sequence[str], env: dict[str, str]) -> Subject:
    """The same bot, started through `wrapper` (a script and its options, which prepares
    the process and then runs the bot's command line: bench/as_python.py), with `env`
    added to its environment."""
    python, *rest = subject.command
    if rest and rest[0] == "-P":
        rest = rest[1:]
    return Subject(subject.name, [python, "-P", *wrapper, *rest], {**subject.env, **env})


async def between_signals(subject: Subject, start: Start, count: int, flight: int) -> Batch:
    """One batch, the bot sent SIGUSR1 just before it and SIGUSR2 right after (a wrapper's
    cue to start and to stop measuring)."""
    os.kill(subject.pid, signal.SIGUSR1)
    await asyncio.sleep(0.2)
    batch = await subject.fire(start, count, flight)
    os.kill(subject.pid, signal.SIGUSR2)
    return batch
