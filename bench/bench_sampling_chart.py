"""How long a /sampling chart takes to draw, and how much it stalls the event loop
when drawn in a worker thread (as the cog does) against drawn inline (prints figures).

    .venv/bin/python bench/bench_sampling_chart.py [ROUNDS]

The stall is the longest gap between ticks of a 5 ms heartbeat task while
charts are drawn; the ratio compares inline drawing (the baseline) with
asyncio.to_thread. No backend is needed: the distribution is made up.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.render.sampling_chart import chart_png
from bot.services.sampling import SamplingOutcome
from bot.services.sampling_math import NextToken, picture

TICK = 0.005


def outcome() -> SamplingOutcome:
    listed = NextToken.from_top_logprobs(
        {f" token{i}": math.log(0.5 / (i + 1) ** 1.5) for i in range(20)}
    )
    return SamplingOutcome(
        chart_id=1,
        prompt="Once upon a time",
        model="bench",
        backend="vllm",
        picture=picture(listed, 0.7, 0.9),
        samples=(" token0",) * 6 + (" token1",) * 4,
    )


async def longest_stall(draw_inline: bool, rounds: int) -> tuple[float, float]:
    """(seconds per chart, longest heartbeat gap) while drawing `rounds` charts."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def heartbeat() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(TICK * 2)
    started = time.perf_counter()
    for _ in range(rounds):
        if draw_inline:
            chart_png(outcome())
            await asyncio.sleep(0)
        else:
            await asyncio.to_thread(chart_png, outcome())
    per_chart = (time.perf_counter() - started) / rounds
    done.set()
    await beat
    return per_chart, max(gaps)


async def main(rounds: int) -> None:
    started = time.perf_counter()
    png = chart_png(outcome())  # first chart: imports matplotlib, loads fonts
    print(f"first chart (imports matplotlib): {time.perf_counter() - started:.2f} s")
    print(f"chart size: {len(png):,} bytes (20 tokens, other, samples)")
    warm = []
    for _ in range(rounds):
        t = time.perf_counter()
        chart_png(outcome())
        warm.append(time.perf_counter() - t)
    print(f"warm chart: median {statistics.median(warm) * 1000:.0f} ms over {rounds}")
    inline_time, inline_stall = await longest_stall(True, rounds)
    thread_time, thread_stall = await longest_stall(False, rounds)
    print(f"{'':24}{'inline (baseline)':>20}{'to_thread':>12}{'ratio':>8}")
    print(
        f"{'seconds per chart':24}{inline_time:>20.3f}{thread_time:>12.3f}"
        f"{thread_time / inline_time:>8.2f}"
    )
    print(
        f"{'longest loop stall (s)':24}{inline_stall:>20.3f}{thread_stall:>12.3f}"
        f"{thread_stall / inline_stall:>8.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
