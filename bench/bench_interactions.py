"""Couplet's own cost per interaction, as ratios to a fair floor measured side by side.

Two bots run at once, each as its own process against its own Discord
emulator and instant stub backend (both in this process):

- `floor` (bench/floor_bot.py): a bare discord.py bot doing the Discord and
  backend work of a /complete — defer, one POST /v1/completions (httpx), edit
  the original with the text and a row of buttons; Next edits in place,
  Regenerate defers, asks the backend and edits its new message.
- `couplet`: `couplet run`, the real bot (SQLite in a temporary directory).

For each scenario (/complete, a Next click, a Regenerate click) and each number
in flight, the two are measured alternately, `--rounds` times, and the medians
compared: answers per second, CPU per interaction of the bot process, and p99
overhead (dispatch to answer, minus the backend's own time). The issue's
targets are printed with the measured ratio and PASS or MISS.

    .venv/bin/python bench/bench_interactions.py                 # the ratio targets
    .venv/bin/python bench/bench_interactions.py --memory 10000  # RSS over 10,000 /complete
                                                                 # after a 20,000 warm-up
    .venv/bin/python bench/bench_interactions.py --servers 100000:10000
    .venv/bin/python bench/bench_interactions.py --scenarios complete --flights 20 --rounds 5

Figures are for this machine and its load at the time (printed with them).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    COUPLET_COMMAND,
    FLOOR_COMMAND,
    Batch,
    Start,
    Subject,
    add_env_option,
    env_settings,
    load_average,
)

from bot.sandbox.interactions import InteractionRecord
from bot.sandbox.world import Guild
from bot.storage.generations import RECENT_COUNT

SCENARIOS = ("complete", "next", "regenerate")
LABELS = {"next": "Next ▶", "regenerate": "Regenerate"}
MAX_TOKENS = 8
MiB = 2**20
# --memory: RSS growth is printed per this many interactions after the warm-up.
WINDOW = 10_000
# --memory's default warm-up: the recent-generations cache full (after at most
# RECENT_COUNT), then as many again while glibc's heap settles. Measured on
# main at 1ba6a6f (bench/README.md, Memory): Couplet's RSS grew +1.5, +0.7,
# +0.3, +0.5 MiB in the four 10,000 after the first (the floor +1.9, +1.5,
# +0.5, +1.0), with no Python objects kept.
WARM = 2 * RECENT_COUNT


def subjects(baselines: str | None = None, env: list[str] | None = None) -> list[Subject]:
    """The floor and Couplet; also Couplet run from each checkout in `baselines` (a, b, …).

    `env`: KEY=VALUE settings for every Couplet (e.g. MODERATION_CLASSIFIER=false).
    """
    extra = env_settings(env)
    bots = [Subject("floor", FLOOR_COMMAND), Subject("couplet", [*COUPLET_COMMAND, "run"], extra)]
    for number, checkout in enumerate((baselines or "").split(",") if baselines else []):
        root = Path(checkout).resolve()
        name = "baseline" if number == 0 else f"baseline{number + 1}"
        python = root / ".venv" / "bin" / "python"
        # Its own environment when it has one (as its pyproject.toml installs it);
        # PYTHONPATH comes before the editable install either way.
        executable = str(python) if python.exists() else COUPLET_COMMAND[0]
        command = [executable, *COUPLET_COMMAND[1:], "run"]
        bots.append(Subject(name, command, {**extra, "PYTHONPATH": str(root)}))
    return bots


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def spread(rounds: list[tuple[Batch, Batch]], figure: str) -> str:
    """The lowest and highest ratio of `figure` over the rounds (a bot's batch against
    the floor's batch of the same round): how far one round's figure can move."""
    ratios = [getattr(b, figure) / getattr(f, figure) for b, f in rounds if getattr(f, figure)]
    if len(ratios) < 2:
        return ""
    return f"  (rounds {min(ratios):.2f}–{max(ratios):.2f})"


# ---------------------------------------------------------------- one batch


async def plan(subject: Subject, scenario: str, count: int) -> Start:
    """How to start interaction i of a batch of `scenario` (clicks get their replies first)."""
    stamp = time.monotonic_ns()
    if scenario == "complete":

        async def start(i: int) -> tuple[InteractionRecord, str | None]:
            prompt = f"bench {i} {stamp}"
            return await subject.complete(prompt, i, max_tokens=MAX_TOKENS), prompt

        return start

    n = 2 if scenario == "next" else 1
    replies = await subject.replies(count, f"{scenario} {stamp}", max_tokens=MAX_TOKENS, n=n)
    label = LABELS[scenario]

    async def click(i: int) -> tuple[InteractionRecord, str | None]:
        message, prompt = replies[i]
        rec = await subject.fake.click(message, label)
        return rec, (prompt if scenario == "regenerate" else None)

    return click


async def measure(subject: Subject, scenario: str, count: int, flight: int) -> Batch:
    """One batch of `count` interactions of `scenario`, `flight` in flight (setup not measured)."""
    start = await plan(subject, scenario, count)
    return await subject.fire(start, count, flight)


# ---------------------------------------------------------------- the ratio targets


@dataclass
class Medians:
    rate: float
    p99: float
    cpu: float

    @classmethod
    def of(cls, batches: list[Batch]) -> Medians:
        return cls(
            statistics.median(b.rate for b in batches),
            statistics.median(b.p99 for b in batches),
            statistics.median(b.cpu_per for b in batches),
        )


async def ratio_run(args: argparse.Namespace, tmp: Path) -> None:
    flights = [int(x) for x in args.flights.split(",")]
    scenarios = [s.strip() for s in args.scenarios.split(",")]
    bots = subjects(args.baseline, args.env)
    results: dict[tuple[str, int, str], list[Batch]] = {}
    async with AsyncExitStack() as stack:
        for bot in bots:
            await bot.start(stack, tmp)
        for bot in bots:  # warm-up: connection pools, caches, the database
            for scenario in scenarios:
                await measure(bot, scenario, 20, 20)
        for scenario in scenarios:
            for flight in flights:
                for r in range(args.rounds):
                    # Rotate who goes first, so a change in load hits every bot alike.
                    for bot in bots[r % len(bots) :] + bots[: r % len(bots)]:
                        batch = await measure(bot, scenario, args.count, flight)
                        results.setdefault((scenario, flight, bot.name), []).append(batch)
                        if args.verbose:
                            print(
                                f"  {scenario:10} {flight:>3} {bot.name:8} "
                                f"{batch.rate:8.1f}/s p99 {batch.p99 * 1000:8.1f} ms "
                                f"{batch.cpu_per * 1000:6.2f} ms CPU/i "
                                f"(busy {batch.busy:4.2f} cores)  emulator "
                                f"{batch.emulator_cpu_per * 1000:5.2f} ms/i  "
                                f"load {load_average()}",
                                file=sys.stderr,
                            )
        rss = {bot.name: bot.stats()[1] for bot in bots}

    print(
        f"{args.count} interactions per batch, medians of {args.rounds} rounds taken in turn, "
        f"instant stub backend; load average at the end: {load_average()}"
    )
    print(
        f"{'scenario':11}{'flight':>6} {'bot':8} | {'answers/s':>9} {'ratio':>5} | "
        f"{'CPU/i':>7} {'ratio':>5} | {'p99 overhead':>12} {'ratio':>5}"
    )
    targets: list[str] = []
    for scenario in scenarios:
        for flight in flights:
            floors = results[(scenario, flight, "floor")]
            floor = Medians.of(floors)
            for bot in bots:
                mine = Medians.of(results[(scenario, flight, bot.name)])
                rate = mine.rate / floor.rate if floor.rate else 0.0
                cpu = mine.cpu / floor.cpu if floor.cpu else float("inf")
                p99 = mine.p99 / floor.p99 if floor.p99 > 0 else float("inf")
                print(
                    f"{scenario:11}{flight:>6} {bot.name:8} | {mine.rate:9.1f} {rate:5.2f} | "
                    f"{mine.cpu * 1000:5.2f}ms {cpu:5.2f} | {mine.p99 * 1000:10.1f}ms {p99:5.2f}"
                )
                if bot.name == "floor":
                    continue
                who = f"{bot.name:8} {scenario:10}"
                rounds = list(zip(results[(scenario, flight, bot.name)], floors, strict=True))
                goal = 0.5 if flight >= 300 else 0.7
                targets.append(
                    f"{who} answers/s at {flight:>3} in flight ≥ {goal}×: "
                    f"{rate:5.2f}×  {verdict(rate >= goal)}"
                    f"{spread(rounds, 'rate')}"
                )
                targets.append(
                    f"{who} CPU/interaction at {flight:>3} in flight ≤ 2×: "
                    f"{cpu:5.2f}×  {verdict(cpu <= 2)}"
                    f"{spread(rounds, 'cpu_per')}"
                )
                if flight == 20:
                    targets.append(
                        f"{who} p99 overhead at  20 in flight ≤ 3×: "
                        f"{p99:5.2f}×  {verdict(p99 <= 3)}"
                        f"{spread(rounds, 'p99')}"
                    )
    print("RSS at the end: " + ", ".join(f"{n} {v / MiB:.1f} MiB" for n, v in rss.items()))
    print("\nTargets (ratios to the floor measured in this run):")
    for line in sorted(targets, key=lambda t: not t.startswith("couplet")):
        print("  " + line)


# ---------------------------------------------------------------- memory


async def memory_run(args: argparse.Namespace, tmp: Path) -> None:
    """RSS after each chunk of 1,000 /complete: flat after warm-up, or growing.

    The warm-up (`--warm`) comes first: the bounded caches fill (the
    recent-generations cache holds at most RECENT_COUNT, and grows up to its cap
    RECENT_BYTES by design), and then glibc's heap settles, more slowly (see
    WARM); `--memory` more are measured. The growth of each 10,000 after the
    warm-up is printed too, for both bots: a leak grows as much in each.
    """
    chunk, warm = 1000, args.warm
    total = warm + args.memory
    bots = subjects(None, args.env)
    samples: dict[str, list[tuple[int, int]]] = {bot.name: [] for bot in bots}
    async with AsyncExitStack() as stack:
        for bot in bots:
            await bot.start(stack, tmp)
        done = 0
        while done < total:
            size = min(chunk, total - done)
            for bot in bots:
                batch = await measure(bot, "complete", size, 20)
                if batch.answered != size:
                    raise RuntimeError(f"{bot.name}: {batch.answered} of {size} answered")
                samples[bot.name].append((done + size, bot.stats()[1]))
            done += size
            print(
                f"  {done:>6} interactions: "
                + ", ".join(f"{n} {s[-1][1] / MiB:.1f} MiB" for n, s in samples.items()),
                file=sys.stderr,
            )
    print(
        f"RSS over {args.memory} /complete at 20 in flight after a warm-up of {warm} "
        f"(load average {load_average()}):"
    )
    for name, series in samples.items():
        after_warm = next(rss for count, rss in series if count >= warm)
        end = series[-1][1]
        growth = end - after_warm
        per = growth / max(args.memory, 1)
        print(
            f"  {name:8} after {warm}: {after_warm / MiB:6.1f} MiB, "
            f"at the end: {end / MiB:6.1f} MiB, "
            f"growth {growth / MiB:+5.1f} MiB ({per:+.0f} bytes per interaction)"
        )
        if args.memory >= 2 * WINDOW:  # one window is the growth just printed
            print(f"  {'':8} growth per {WINDOW}: {windows(series, warm)}")
    mine = samples["couplet"]
    after_warm = next(rss for count, rss in mine if count >= warm)
    growth = mine[-1][1] - after_warm
    # Flat: less than 2% of what it held after warm-up (allocator noise, not a leak).
    print(
        f"\nTarget: couplet RSS flat after warm-up (growth < 2%): "
        f"{growth / after_warm * 100:+.1f}%  {verdict(growth < 0.02 * after_warm)}"
    )


def windows(series: list[tuple[int, int]], warm: int) -> str:
    """RSS growth in each WINDOW of interactions after the warm-up.

    Counted from the first sample at or past `warm`, as the growth printed above
    it is (samples are taken every 1,000, so every window's end has one)."""
    rss = dict(series)
    start = next(count for count in rss if count >= warm)
    marks = range(start, series[-1][0] + 1, WINDOW)
    return ", ".join(
        f"{a // 1000}k-{b // 1000}k {(rss[b] - rss[a]) / MiB:+.1f} MiB"
        for a, b in itertools.pairwise(marks)
    )


# ---------------------------------------------------------------- many servers


def seed_servers(db_path: Path, used: list[int], total: int) -> None:
    """Settings for `total` servers (`used` among them), written straight into the database."""
    from sqlalchemy import create_engine, insert

    from bot.storage.models import GuildSetting, PresetRow, utcnow

    rng = random.Random(9)
    others: set[int] = set()
    while len(others) < total - len(used):
        others.add(rng.randrange(10**17, 10**18))
    now = utcnow()
    settings, presets = [], []
    for i, guild_id in enumerate([*used, *sorted(others)]):
        for name, value in (
            ("temperature", round(0.1 + (i % 17) / 10, 2)),
            ("max_tokens_limit", 512 + i % 100),
            ("allowed_models", ["stub-model", f"model-{i % 50}"]),
        ):
            settings.append(
                {
                    "guild_id": guild_id,
                    "name": name,
                    "value": value,
                    "updated_by": 1,
                    "updated_at": now,
                }
            )
        if i % 10 == 0:
            presets.append(
                {
                    "guild_id": guild_id,
                    "name": "story",
                    "description": "a preset",
                    "params": {"temperature": 0.9, "max_tokens": 64},
                    "created_by": 1,
                    "created_at": now,
                    "updated_by": 1,
                    "updated_at": now,
                    "version": 1,
                }
            )
    engine = create_engine(f"sqlite:///{db_path}")
    with engine.begin() as conn:
        conn.execute(insert(GuildSetting), settings)
        conn.execute(insert(PresetRow), presets)
    engine.dispose()


async def servers_run(args: argparse.Namespace, tmp: Path) -> None:
    """Settings of TOTAL servers in the database; one /complete from each of USED of them."""
    total, used = (int(x) for x in args.servers.split(":"))
    bots = subjects(args.baseline, args.env)
    async with AsyncExitStack() as stack:
        for bot in bots:
            await bot.start(stack, tmp)
        guilds: dict[str, list[Guild]] = {}
        for bot in bots:
            # Added after the bot connected: discord.py's own guild cache stays out
            # of the figure, which is about Couplet's per-server caches.
            made = []
            for i in range(used):
                guild = bot.fake.add_guild(f"server {i}")
                guild.add_channel("general")
                guild.add_member(f"user{i}")  # a member of its own in each
                made.append(guild)
            guilds[bot.name] = made
        for bot in bots[1:]:  # every Couplet (the floor has no database)
            started = time.perf_counter()
            seed_servers(tmp / f"{bot.name}.db", [g.id for g in guilds[bot.name]], total)
            print(
                f"  seeded {total} servers for {bot.name} in {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
        before = {bot.name: bot.stats()[1] for bot in bots}
        rates = {}
        for bot in bots:
            stamp = time.monotonic_ns()
            mine = guilds[bot.name]

            async def start(
                i: int, bot: Subject = bot, mine: list[Guild] = mine, stamp: int = stamp
            ) -> tuple[InteractionRecord, str | None]:
                prompt = f"server {i} {stamp}"
                rec = await bot.fake.slash(
                    "complete", {"prompt": prompt, "max_tokens": MAX_TOKENS}, guild=mine[i]
                )
                return rec, prompt

            batch = await bot.fire(start, used, 20)
            if batch.answered != used:
                raise RuntimeError(f"{bot.name}: {batch.answered} of {used} answered")
            rates[bot.name] = batch.rate
        after = {bot.name: bot.stats() for bot in bots}
    print(
        f"{total} servers' settings in the database, one /complete from each of {used} "
        f"(load average {load_average()}):"
    )
    for name, (_cpu, rss, peak) in after.items():
        print(
            f"  {name:8} RSS before {before[name] / MiB:6.1f} MiB, after {rss / MiB:6.1f} MiB, "
            f"peak {peak / MiB:6.1f} MiB; {rates[name]:.0f} answers/s"
        )
    print()
    for name, (_cpu, rss, _peak) in after.items():
        if name != "floor":
            print(f"Target: {name} RSS ≤ 150 MiB: {rss / MiB:.1f} MiB  {verdict(rss <= 150 * MiB)}")


# ---------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=300, help="interactions per batch")
    parser.add_argument("--flights", default="1,20,300", help="interactions in flight, a list")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="complete,next,regenerate")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per figure")
    parser.add_argument("--memory", type=int, help="instead: RSS over this many /complete")
    parser.add_argument(
        "--warm",
        type=int,
        default=WARM,
        help="with --memory: /complete before measuring (default: twice what the "
        "recent-generations cache holds at most; see WARM)",
    )
    parser.add_argument("--servers", help="instead: TOTAL:USED servers (e.g. 100000:10000)")
    parser.add_argument(
        "--baseline",
        metavar="DIRS",
        help="also measure Couplet from these checkouts (DIR[,DIR…], e.g. main's), "
        "each with its own .venv if it has one",
    )
    add_env_option(parser)
    parser.add_argument("--verbose", action="store_true", help="print every batch")
    return parser.parse_args()


async def main(args: argparse.Namespace) -> int:
    print(f"load average at the start: {load_average()}")
    with tempfile.TemporaryDirectory(prefix="couplet-bench-") as tmp:
        if args.memory:
            await memory_run(args, Path(tmp))
        elif args.servers:
            await servers_run(args, Path(tmp))
        else:
            await ratio_run(args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
