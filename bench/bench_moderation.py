"""The latency moderation adds to one generation (prints figures; asserts nothing).

    .venv/bin/python bench/bench_moderation.py [ROUNDS]

Each round is one whole generation through GenerationService (parameters,
input check, an instant loopback backend, output check, storing) for one
member in one server, on a temporary SQLite database. Side by side:

    baseline        no moderation at all
    classifier      the offline classifier (alt-profanity-check's model, scored with numpy)
    words-1000      a word list of 1,000 keywords, 10 patterns and 100 allowed entries
    both            the two together (the default setup with a server word list)

It also times the matching alone: 1,000 keywords against a 2,000-character text.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.completions import CompletionsClient
from bot.moderation import Matcher, ModerationService
from bot.moderation.providers import ProfanityClassifier
from bot.sandbox.stub_completions import StubCompletions
from bot.services.generation import GenerationService, Requester
from bot.services.parameters import ParameterResolver
from bot.services.presets import PresetService
from bot.services.server_settings import ServerSettingsService
from bot.settings import Settings
from bot.storage import Database
from bot.storage.generations import GenerationStore
from bot.storage.moderation import ModerationStore, WordEntry

PLAIN, LISTED, CHANNEL, USER, ADMIN = 1, 5, 2, 3, 4  # two servers: without and with a list
PROMPT = "Write two sentences about the harbour at dawn."


def word_list() -> list[WordEntry]:
    """1,000 keywords of every wildcard shape, 10 patterns, 100 allowed entries."""
    shapes = ("{}", "{}*", "*{}", "*{}*")
    words = [WordEntry("keyword", shapes[i % 4].format(f"zq{i:04d}x")) for i in range(1000)]
    words += [WordEntry("regex", rf"qz{i}\d+[a-z]{{2,5}}") for i in range(10)]
    words += [WordEntry("allow", f"zq{i:04d}x-ok") for i in range(100)]
    return words


def generation_service(
    db: Database, client: CompletionsClient, moderation: ModerationService | None
) -> GenerationService:
    resolver = ParameterResolver(ServerSettingsService(db), PresetService(db))
    return GenerationService(
        client, resolver, GenerationStore(db), default_model="stub-model", moderation=moderation
    )


async def run_cases(
    db: Database, url: str, cases: dict[str, tuple[ModerationService | None, int]], rounds: int
) -> dict[str, list[float]]:
    """Round-robin over the cases, so that load from elsewhere falls on all of them alike."""
    settings = Settings(_env_file=None, completions_base_url=url, completions_backend="vllm")  # type: ignore[call-arg]
    client = CompletionsClient.from_settings(settings)
    services = {
        name: (generation_service(db, client, moderation), Requester(USER, guild, CHANNEL))
        for name, (moderation, guild) in cases.items()
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    try:
        for round_ in range(rounds + 5):
            for name, (service, requester) in services.items():
                start = time.perf_counter()
                await service.generate(requester, PROMPT, {"max_tokens": 40})
                if round_ >= 5:  # the first rounds warm caches and connections
                    samples[name].append(time.perf_counter() - start)
    finally:
        await client.aclose()
    return samples


async def main(rounds: int) -> None:
    stub = StubCompletions()
    url = await stub.start()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        await db.upgrade()
        await ModerationStore(db).change_words(LISTED, ADMIN, word_list())
        classifier = ProfanityClassifier()
        await classifier.warm_up()
        store = ModerationStore(db)
        cases = {
            "baseline": (None, PLAIN),
            "classifier": (ModerationService(store, classifier=classifier), PLAIN),
            "words-1000": (ModerationService(store), LISTED),
            "both": (ModerationService(store, classifier=classifier), LISTED),
        }
        results = await run_cases(db, url, cases, rounds)
        base = statistics.median(results["baseline"])
        print(f"one generation, {rounds} rounds each (instant backend, SQLite):")
        for name, samples in results.items():
            median = statistics.median(samples)
            p95 = sorted(samples)[int(len(samples) * 0.95)]
            print(
                f"  {name:11} median {median * 1e3:7.2f} ms  p95 {p95 * 1e3:7.2f} ms  "
                f"added {(median - base) * 1e3:6.2f} ms  ×{median / base:4.2f}"
            )
        await db.dispose()
    await stub.stop()

    matcher = Matcher.build(
        [e.value for e in word_list() if e.kind == "keyword"],
        [e.value for e in word_list() if e.kind == "regex"],
        [e.value for e in word_list() if e.kind == "allow"],
    )
    text = ("The harbour at dawn was quiet, gulls over the water. " * 40)[:2000]
    start = time.perf_counter()
    for _ in range(200):
        matcher.hits(text)
    each = (time.perf_counter() - start) / 200
    print(f"matching alone: 1,000 keywords + 10 patterns on 2,000 characters: {each * 1e3:.3f} ms")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
