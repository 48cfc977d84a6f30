"""Latency and throughput of CompletionsClient against the bundled local model.

Run: .venv/bin/python bench/bench_completions.py [--base-url URL] [--runs N]
Without --base-url it starts the local model (Gemma 3 270M) for the run.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.completions import CompletionRequest, CompletionsClient
from bot.local_model import LocalModelServer

PROMPT = "Once upon a time"
CASES: list[tuple[str, dict]] = [
    ("plain, 16 tokens", {"max_tokens": 16}),
    ("plain, 64 tokens", {"max_tokens": 64}),
    ("logprobs=1, 8 tokens", {"max_tokens": 8, "logprobs": 1}),
    ("n=3 emulated, 16 tokens", {"max_tokens": 16, "n": 3}),
    ("best_of=3 emulated, 8 tokens", {"max_tokens": 8, "best_of": 3}),
]


async def bench(base_url: str, runs: int) -> None:
    async with CompletionsClient(base_url) as client:
        profile = await client.profile()
        print(f"backend: {profile.name} at {base_url}, {runs} runs per case")
        await client.complete(CompletionRequest.build(prompt=PROMPT, max_tokens=4))  # warm-up
        print(f"{'case':32} {'median s':>9} {'min s':>7} {'tokens/s':>9}")
        for name, params in CASES:
            times, tokens = [], 0
            for i in range(runs):
                req = CompletionRequest.build(prompt=PROMPT, seed=i, **params)
                started = time.perf_counter()
                result = await client.complete(req)
                times.append(time.perf_counter() - started)
                tokens += result.usage.completion_tokens
            rate = tokens / sum(times)
            print(f"{name:32} {statistics.median(times):9.3f} {min(times):7.3f} {rate:9.1f}")
        req = CompletionRequest.build(prompt=PROMPT, max_tokens=32, temperature=0, stream=True)
        started = time.perf_counter()
        first: float | None = None
        async for _ in client.stream(req):
            first = first or time.perf_counter() - started
        total = time.perf_counter() - started
        print(
            f"{'stream, 32 tokens':32} first text after {first or 0:.3f} s, done in {total:.3f} s"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.base_url:
        asyncio.run(bench(args.base_url, args.runs))
        return 0
    with LocalModelServer() as local:
        asyncio.run(bench(local.base_url, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
