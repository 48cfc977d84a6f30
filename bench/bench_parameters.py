"""How long resolving /complete's parameters takes, cached and not (prints figures).

    .venv/bin/python bench/bench_parameters.py [DATABASE_URL]

Default: a temporary SQLite file. Pass a PostgreSQL URL to measure that.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.services.parameters import ParameterResolver
from bot.services.presets import PresetService
from bot.services.server_settings import ServerSettingsService
from bot.storage import Database

GUILD, CHANNEL, ADMIN = 1, 2, 3
ROUNDS = 2000


async def measure(url: str) -> None:
    db = Database(url)
    await db.upgrade()
    settings, presets = ServerSettingsService(db), PresetService(db)
    resolver = ParameterResolver(settings, presets)
    await settings.set(GUILD, "temperature", "0.7", ADMIN)
    for i in range(25):
        await presets.create(GUILD, f"p{i}", params={"max_tokens": 10 + i}, actor_id=ADMIN)
    await presets.set_channel_preset(GUILD, CHANNEL, "p3", ADMIN)

    async def timed(cold: bool) -> list[float]:
        samples = []
        for _ in range(ROUNDS if not cold else ROUNDS // 10):
            if cold:
                settings.cache.invalidate(GUILD)
                presets.cache.invalidate(GUILD)
            start = time.perf_counter()
            await resolver.resolve(GUILD, CHANNEL, {"seed": 1}, "p7")
            samples.append(time.perf_counter() - start)
        return samples

    for label, cold in (("cached (no SQL)", False), ("cache miss (reads DB)", True)):
        samples = await timed(cold)
        print(
            f"{db.dialect:10} {label:24} median {statistics.median(samples) * 1e6:8.1f} µs  "
            f"p99 {sorted(samples)[int(len(samples) * 0.99)] * 1e6:8.1f} µs  (n={len(samples)})"
        )
    start = time.perf_counter()
    for i in range(50):
        await presets.edit(GUILD, "p1", params={"seed": i}, actor_id=ADMIN)
    mean_ms = (time.perf_counter() - start) / 50 * 1e3
    print(f"{db.dialect:10} {'preset edit (write)':24} mean {mean_ms:8.2f} ms")
    await db.dispose()


def main() -> None:
    if len(sys.argv) > 1:
        asyncio.run(measure(sys.argv[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(measure(f"sqlite+aiosqlite:///{tmp}/bench.db"))


if __name__ == "__main__":
    main()
