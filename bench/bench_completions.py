"""The real model three ways, side by side: raw server, Couplet's client, the whole bot.

For the same request (the body Couplet's client sends for `/complete`'s
options), tokens per second generated:

- `raw`: that body POSTed to the server with a bare httpx client;
- `client`: `CompletionsClient.complete` (profiles, emulation, parsing);
- `bot`: `/complete` through `couplet run` (its own process) and the Discord
  emulator, from dispatch to the edited reply (defer, parameters, backend,
  cleaning, storing, rendering, editing).

The three are measured in turn, `--rounds` times, and compared by their
medians; the target (the bot at least 0.95× the raw server) is printed with
PASS or MISS. Without --base-url it starts the bundled local model (Gemma 3
270M) for the run.

    .venv/bin/python bench/bench_completions.py [--base-url URL] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from harness import COUPLET_COMMAND, load_average
from harness import Subject as BotProcess

from bot.completions import CompletionRequest, CompletionsClient
from bot.local_model import LocalModelServer

PROMPT = "Once upon a time"
CASES: list[tuple[str, dict[str, Any]]] = [
    ("64 tokens, temperature 0", {"max_tokens": 64, "temperature": 0, "seed": 1}),
    ("16 tokens, temperature 0.8", {"max_tokens": 16, "temperature": 0.8, "seed": 2}),
]
TOKENS = re.compile(r"(\d+) tokens?\b")
WAIT = 300.0


async def raw(http: httpx.AsyncClient, body: dict[str, Any]) -> tuple[int, float]:
    """(completion tokens, seconds) for one bare request."""
    started = time.perf_counter()
    response = await http.post("/completions", json=body)
    response.raise_for_status()
    elapsed = time.perf_counter() - started
    return int(response.json()["usage"]["completion_tokens"]), elapsed


async def client(completions: CompletionsClient, options: dict[str, Any]) -> tuple[int, float]:
    started = time.perf_counter()
    result = await completions.complete(CompletionRequest.build(prompt=PROMPT, **options))
    return result.usage.completion_tokens, time.perf_counter() - started


async def through_bot(bot: BotProcess, options: dict[str, Any]) -> tuple[int, float]:
    """(tokens the footer reports, seconds from dispatch to the reply)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    rec = await bot.complete(PROMPT, **options)
    message = await rec.wait_final(WAIT)
    elapsed = loop.time() - started
    found = TOKENS.search(message["content"].rsplit("\n-# ", 5)[-1])
    if found is None:
        raise RuntimeError(f"no token count in the reply: {message['content'][-300:]!r}")
    return int(found[1]), elapsed


async def bench(base_url: str, rounds: int) -> bool:
    ok = True
    async with AsyncExitStack() as stack:
        completions = await stack.enter_async_context(CompletionsClient(base_url))
        profile = await completions.profile()
        model = (await completions.list_models())[0]
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=WAIT))
        bot = BotProcess("couplet", [*COUPLET_COMMAND, "run"], {"COMPLETIONS_BACKEND": "auto"})
        bot.env["COMPLETIONS_MODEL"] = model
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="couplet-bench-")))
        await bot.start(stack, tmp, timeout=WAIT, backend_url=base_url)
        print(
            f"backend: {profile.name} at {base_url}; prompt {PROMPT!r}; {rounds} rounds taken "
            f"in turn, medians; load average {load_average()}"
        )
        print(f"{'case':28} {'raw tok/s':>9} {'client':>8} {'ratio':>5} {'bot':>8} {'ratio':>5}")
        for name, options in CASES:
            request = CompletionRequest.build(prompt=PROMPT, model=model, **options)
            body = profile.payload(request, model)
            await raw(http, body)  # the prompt into the server's cache, for all three alike
            rates: dict[str, list[float]] = {"raw": [], "client": [], "bot": []}
            for _ in range(rounds):
                for label, run in (
                    ("raw", raw(http, body)),
                    ("client", client(completions, {**options, "model": model})),
                    ("bot", through_bot(bot, options)),
                ):
                    tokens, seconds = await run
                    rates[label].append(tokens / seconds)
            med = {label: statistics.median(values) for label, values in rates.items()}
            ratio = med["bot"] / med["raw"]
            print(
                f"{name:28} {med['raw']:9.1f} {med['client']:8.1f} "
                f"{med['client'] / med['raw']:5.2f} {med['bot']:8.1f} {ratio:5.2f}"
            )
            ok = ok and ratio >= 0.95
            print(
                f"  target: the bot ≥ 0.95× the raw server's tokens/s: {ratio:.2f}×  "
                f"{'PASS' if ratio >= 0.95 else 'MISS'}"
            )
    print(f"load average at the end: {load_average()}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", help="an OpenAI-compatible server (default: start Gemma)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.base_url:
        asyncio.run(bench(args.base_url, args.rounds))
        return 0
    with LocalModelServer() as local:
        asyncio.run(bench(local.base_url, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
