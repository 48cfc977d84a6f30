"""The latency a usage-limit check adds to one generation, in process and on Redis.

Runs `UsageService.metered` around an empty backend call (reserve across all five
scopes, take a queue turn, settle, record the ledger entry) with the counters in
process and on a throwaway local `redis-server`, next to a baseline that does
nothing, and prints the time per request and the ratio to the baseline.

    .venv/bin/python bench/bench_usage.py [--count 2000] [--concurrency 1]

Figures are for this machine only; a Redis on another host adds its network round
trips (two per request: the reserve script and the settle transaction).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.storage import Database  # noqa: E402
from bot.storage.usage import LedgerStore  # noqa: E402
from bot.usage import Cost, LedgerWriter, LimitStore, Subject, UsageService  # noqa: E402
from bot.usage.counters import Counters, MemoryCounters  # noqa: E402
from bot.usage.redis_counters import RedisCounters  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402

COST = Cost(prompt_tokens=20, max_tokens=64, n=2, requests=2)


@asynccontextmanager
async def nothing() -> AsyncIterator[None]:
    yield None


async def timed(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> list[float]:
    """Seconds each of `count` calls took, `concurrency` at a time."""
    times: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def run(i: int) -> None:
        async with gate:
            start = time.perf_counter()
            await one(i)
            times.append(time.perf_counter() - start)

    await asyncio.gather(*(run(i) for i in range(count)))
    return times


async def bench_service(db: Database, counters: Counters, args: argparse.Namespace) -> list[float]:
    usage = UsageService(LimitStore(db), counters, LedgerWriter(LedgerStore(db)), concurrency=0)
    await usage.limits.set(1, "tokens_per_day", 10**9, 0)
    await usage.limits.set(1, "server_tokens_per_month", 10**9, 0)
    await usage.limits.set(1, "in_flight", 0, 0)

    async def one(i: int) -> None:
        subject = Subject(user_id=1000 + i % 50, guild_id=1)
        async with usage.metered(subject, COST, command="bench", backend="bench") as meter:
            meter.report(prompt_tokens=20, completion_tokens=100)

    await timed(200, args.concurrency, one)  # warm up the cache and connections
    times = await timed(args.count, args.concurrency, one)
    await usage.ledger.flush()
    return times


def line(name: str, times: list[float], baseline: float) -> str:
    q = statistics.quantiles(times, n=100)
    mean = statistics.fmean(times)
    return (
        f"{name:22} {mean * 1e6:>9.1f} {q[49] * 1e6:>9.1f} {q[98] * 1e6:>9.1f} "
        f"{(mean - baseline) * 1e6:>10.1f} {mean / baseline:>8.1f}×"
    )


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="couplet-bench-usage-"))
    db = Database(f"sqlite+aiosqlite:///{tmp / 'bench.db'}")
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed: run `make redis` first.")
    server = RedisServer(binary)
    try:
        await db.upgrade()
        server.start()

        async def empty(i: int) -> None:
            async with nothing():
                pass

        await timed(200, args.concurrency, empty)
        base = await timed(args.count, args.concurrency, empty)
        memory = await bench_service(db, MemoryCounters(), args)
        redis = RedisCounters.from_url(server.url)
        try:
            on_redis = await bench_service(db, redis, args)
        finally:
            await redis.aclose()
        baseline = statistics.fmean(base)
        print(f"{args.count} requests, {args.concurrency} at a time, 5 scopes each")
        print(f"{'':22} {'mean µs':>9} {'p50 µs':>9} {'p99 µs':>9} {'added µs':>10} {'ratio':>9}")
        print(line("baseline (no check)", base, baseline))
        print(line("limits in process", memory, baseline))
        print(line("limits on Redis", on_redis, baseline))
        print(
            f"Redis over in-process: {statistics.fmean(on_redis) / statistics.fmean(memory):.1f}×"
        )
    finally:
        server.stop()
        await db.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
