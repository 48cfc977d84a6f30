"""Interactions per second with one bot process and with two, on this machine.

Both runs use the same parts: the local Discord with a server on each of two
shards, a throwaway PostgreSQL and Redis, and an instant stub model backend.
One process runs both shards (SHARD_COUNT=2 SHARD_IDS=0,1); then two processes
run one shard each. `--count` /complete interactions (half per server, spread
over many members so no per-member limit applies) are sent `--concurrency` at
a time; the figure is interactions answered per second of wall time, with the
median time from the command to its answer.

    .venv/bin/python bench/bench_scale.py [--count 300] [--concurrency 16] [--rounds 3]

Rounds alternate the two layouts (`--rounds`, default 3) and the medians are shown.
On a 2-core machine two processes share the same cores as one, so the gain is
bounded by what one process leaves idle (the event loop, the database and Redis
round trips overlap); on more cores or machines the processes scale further.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.sandbox import FakeDiscord  # noqa: E402
from bot.sandbox.world import Guild  # noqa: E402
from tests.scale.processes import BotCluster, ScaleStub, process_env, sharded_world  # noqa: E402
from tests.support.discord_env import running_fake  # noqa: E402
from tests.support.postgres import PostgresCluster, find_bindir  # noqa: E402
from tests.support.redis import RedisServer, flush  # noqa: E402

MEMBERS = 40  # per server


async def drive(
    fake: FakeDiscord, guilds: list[Guild], count: int, concurrency: int
) -> tuple[float, list[float]]:
    """Send `count` /complete across the servers; (seconds, latency of each)."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(i: int) -> None:
        guild = guilds[i % len(guilds)]
        member = f"member{(i // len(guilds)) % MEMBERS}"
        async with gate:
            started = time.perf_counter()
            rec = await fake.slash(
                "complete", guild=guild, member=member, prompt=f"bench {i}", max_tokens=5
            )
            await rec.wait_final(120)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - started, latencies


async def measure(
    layout: list[list[int]], postgres: PostgresCluster, redis: RedisServer, args: argparse.Namespace
) -> tuple[float, float]:
    """Start one process per entry of `layout` (its shards); interactions/s, median s."""
    logs = Path(tempfile.mkdtemp(prefix="couplet-bench-scale-"))
    try:
        flush(redis.url)
        database = postgres.create_database(template=postgres.migrated_template())
        async with running_fake() as fake, ScaleStub().running() as stub:
            guilds = sharded_world(fake)
            for guild in guilds:
                for n in range(MEMBERS):
                    guild.add_member(f"member{n}")
            cluster = BotCluster(fake, process_env(database, redis.url, stub.base_url), logs)
            try:
                for shards in layout:
                    await cluster.start(shards)
                await drive(fake, guilds, min(20, args.count), args.concurrency)  # warm up
                seconds, latencies = await drive(fake, guilds, args.count, args.concurrency)
            finally:
                await cluster.aclose()
        return args.count / seconds, statistics.median(latencies)
    finally:
        shutil.rmtree(logs, ignore_errors=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL is needed: run `make postgres`.")
    postgres = PostgresCluster(bindir)
    redis = RedisServer(shutil.which("redis-server") or "/usr/bin/redis-server")
    postgres.start()
    redis.start()
    layouts = {"one process (shards 0,1)": [[0, 1]], "two processes (0 | 1)": [[0], [1]]}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in layouts}
    try:
        # Rounds in turn, so a busy moment of the machine hits both alike.
        for _ in range(args.rounds):
            for name, layout in layouts.items():
                results[name].append(await measure(layout, postgres, redis, args))
    finally:
        redis.stop()
        postgres.stop()
    rates = {name: statistics.median(r for r, _ in runs) for name, runs in results.items()}
    print(
        f"{args.count} /complete, {args.concurrency} at a time, instant stub backend, "
        f"median of {args.rounds} rounds:"
    )
    for name, runs in results.items():
        median = statistics.median(m for _, m in runs)
        print(f"  {name:26} {rates[name]:7.1f} interactions/s   median {median * 1000:6.0f} ms")
    one, two = rates.values()
    print(f"  {'two / one':26} {two / one:7.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
