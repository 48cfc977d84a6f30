"""Load bench: many `/complete` interactions at once through the Discord emulator.

Runs each bot as its own process against the emulator (in this process) and a
stub completions backend that answers instantly, then prints for each bot:
interactions answered per second, p50/p99 overhead per interaction (time from
dispatch to answer minus the time the backend spent on that request), CPU
milliseconds per interaction and memory (RSS, peak RSS).

    .venv/bin/python bench/bench_interactions.py --count 200
    .venv/bin/python bench/bench_interactions.py --count 500 --bots floor

Bots: `couplet` (`couplet run`, the real bot) and `floor` (a minimal discord.py
bot that defers and answers a fixed text). Figures are for this machine only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

THIS_FILE = Path(__file__).resolve()
ROOT = THIS_FILE.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from bot.sandbox import FakeDiscord  # noqa: E402
from bot.sandbox.stub_completions import StubCompletions  # noqa: E402
from tests.support.discord_env import running_process  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


class TimedStub(StubCompletions):
    """The stub backend, also recording how long each prompt spent in it."""

    def __init__(self) -> None:
        super().__init__()
        self.spent: dict[str, float] = {}

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        start = time.perf_counter()
        body = await request.json()
        response = await self._answer(body)
        self.spent[str(body.get("prompt"))] = time.perf_counter() - start
        return response

    async def _answer(self, body: dict[str, Any]) -> web.StreamResponse:
        self.requests += 1
        n = int(body.get("n") or 1)
        text = self._text(body)
        return web.json_response(
            {
                "id": "cmpl-stub",
                "object": "text_completion",
                "created": int(time.time()),
                "model": body.get("model") or "stub-model",
                "choices": [
                    {"index": i, "text": text, "finish_reason": "length", "logprobs": None}
                    for i in range(n)
                ],
                "usage": {
                    "prompt_tokens": 2,
                    "completion_tokens": 8 * n,
                    "total_tokens": 2 + 8 * n,
                },
            }
        )


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


@dataclass
class Result:
    bot: str
    count: int
    answered: int
    wall: float
    overheads: list[float]
    cpu: float
    rss: int
    peak: int
    emulator_cpu: float

    def line(self) -> str:
        rate = self.answered / self.wall if self.wall else 0.0
        q = statistics.quantiles(self.overheads, n=100) if len(self.overheads) >= 2 else [0.0] * 99
        return (
            f"{self.bot:8} {self.answered:>5}/{self.count:<5} {rate:>9.1f} "
            f"{q[49] * 1000:>9.1f} {q[98] * 1000:>9.1f} "
            f"{self.cpu / max(self.answered, 1) * 1000:>9.2f} "
            f"{self.rss / 2**20:>8.1f} {self.peak / 2**20:>8.1f} "
            f"{self.emulator_cpu / max(self.answered, 1) * 1000:>9.2f}"
        )


HEADER = (
    f"{'bot':8} {'answered':>11} {'answers/s':>9} {'p50 ms':>9} {'p99 ms':>9} "
    f"{'CPU ms/i':>9} {'RSS MiB':>8} {'peak MiB':>8} {'emu ms/i':>9}"
)


async def fire(
    fake: FakeDiscord,
    stub: TimedStub,
    count: int,
    options: dict[str, Any],
    timeout: float,  # noqa: ASYNC109
    concurrency: int = 0,
) -> tuple[int, float, list[float]]:
    """Dispatch `count` /complete interactions (at most `concurrency` in flight; 0 = all)."""
    loop = asyncio.get_running_loop()
    answered_at: dict[int, float] = {}
    overheads: list[float] = []
    gate = asyncio.Semaphore(concurrency or count)

    async def one(i: int) -> None:
        async with gate:
            prompt = f"bench {i} {time.monotonic_ns()}"
            rec = await fake.slash("complete", dict(options, prompt=prompt))
            sent = loop.time()
            await rec.wait_for(lambda r: r.answered or bool(r.rejections), timeout)
            if rec.answered:
                answered_at[i] = loop.time()
                overheads.append(answered_at[i] - sent - stub.spent.get(prompt, 0.0))

    start = loop.time()
    results = await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        print(f"  {len(failures)} interactions failed, e.g. {failures[0]!r}", file=sys.stderr)
    end = max(answered_at.values(), default=start)
    return len(answered_at), end - start, overheads


async def bench_bot(name: str, args: argparse.Namespace, tmp: Path) -> Result:
    stub = TimedStub()
    base_url = await stub.start()
    fake = FakeDiscord()
    await fake.start()
    env = {
        "COMPLETIONS_BASE_URL": base_url,
        "COMPLETIONS_MODEL": "stub-model",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / f'{name}.db'}",
        "DISCORD_SYNC": "global",
        "LOG_LEVEL": "WARNING",
    }
    if name == "couplet":
        command = [
            sys.executable,
            "-c",
            "import sys; from bot.cli import main; sys.exit(main())",
            "run",
        ]
    else:
        command = [sys.executable, str(THIS_FILE), "--serve-floor-bot"]
    try:
        async with running_process(fake, command, env, log_path=str(tmp / f"{name}.log")) as proc:
            definition = next(c for c in fake.commands() if c["name"] == "complete")
            names = {o["name"] for o in definition.get("options") or []}
            options: dict[str, Any] = (
                {"max_tokens": args.max_tokens} if "max_tokens" in names else {}
            )
            if "stream" in names:
                options["stream"] = False
            # Warm up caches, the database and connection pools.
            await fire(fake, stub, min(5, args.count), options, args.timeout)
            cpu0, _, _ = proc_stats(proc.process.pid)
            own0 = time.process_time()
            answered, wall, overheads = await fire(
                fake, stub, args.count, options, args.timeout, args.concurrency
            )
            own = time.process_time() - own0
            cpu1, rss, peak = proc_stats(proc.process.pid)
            if fake.unknown_routes:
                print(f"  unknown routes: {sorted(set(fake.unknown_routes))}", file=sys.stderr)
            return Result(name, args.count, answered, wall, overheads, cpu1 - cpu0, rss, peak, own)
    finally:
        await fake.stop()
        await stub.stop()


async def main(args: argparse.Namespace) -> int:
    flight = args.concurrency or args.count
    print(
        f"{args.count} /complete interactions, {flight} in flight, max_tokens={args.max_tokens}, "
        f"instant stub backend; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="couplet-bench-") as tmp:
        for name in args.bots.split(","):
            try:
                results.append(await bench_bot(name.strip(), args, Path(tmp)))
            except Exception as err:  # a missing or broken bot should not hide the other figures
                print(f"{name}: could not run: {err}", file=sys.stderr)
    print(HEADER)
    for result in results:
        print(result.line())
    print(
        "overhead = dispatch to answer minus backend time; CPU ms/i = bot process CPU per "
        "interaction; emu ms/i = this process (emulator + stub backend) CPU per interaction."
    )
    return 0 if results else 1


# ----------------------------------------------------------------- floor bot


def serve_floor_bot() -> int:
    """The floor: a minimal discord.py bot whose /complete defers and answers a fixed text."""
    import discord
    from discord import app_commands

    from bot.discord_endpoints import patch_discord_endpoints

    patch_discord_endpoints(os.environ["DISCORD_API_BASE"], os.environ["DISCORD_GATEWAY_URL"])

    class FloorBot(discord.Client):
        def __init__(self) -> None:
            super().__init__(intents=discord.Intents(guilds=True), guild_ready_timeout=0.1)
            self.tree = app_commands.CommandTree(self)

            @self.tree.command()
            async def complete(
                interaction: discord.Interaction, prompt: str, max_tokens: int = 16
            ) -> None:
                """Answer a fixed text."""
                await interaction.response.defer(thinking=True)
                await interaction.followup.send("the quick brown fox jumps over the lazy dog")

        async def setup_hook(self) -> None:
            await self.tree.sync()

    FloorBot().run(os.environ["DISCORD_TOKEN"], log_handler=None)
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=200, help="interactions fired at once")
    parser.add_argument(
        "--concurrency", type=int, default=0, help="interactions in flight at once (0 = all)"
    )
    parser.add_argument("--bots", default="floor,couplet", help="comma list of floor,couplet")
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait per answer")
    parser.add_argument("--serve-floor-bot", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    cli_args = parse_args()
    if cli_args.serve_floor_bot:
        sys.exit(serve_floor_bot())
    sys.exit(asyncio.run(main(cli_args)))
