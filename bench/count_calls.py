"""Python function calls per interaction: a figure the machine's load cannot move.

CPU time per interaction moves by ±30 % between runs on a shared machine;
the number of Python function calls the event loop makes for one
interaction does not (only the background loops' share varies a little).
Each bot runs as in bench_interactions.py (its own emulator and instant stub
backend), with cProfile counting calls in its main thread for exactly one
measured batch (bench/call_counter.py). Printed: calls per interaction and
the ratio to the floor, then, for each Couplet, the packages whose calls
exceed the floor's the most.

    .venv/bin/python bench/count_calls.py
    .venv/bin/python bench/count_calls.py --scenario regenerate --baseline ../main

Calls are not CPU: a call into SQLite's C code counts one, a tiny property
one too; use it to see that a change takes work away, and bench_interactions
for what that is worth in time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import re
import sys
import tempfile
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_interactions import SCENARIOS, plan, subjects
from harness import Subject, add_env_option, between_signals, through

WRAPPER = str(Path(__file__).resolve().with_name("call_counter.py"))


def counted(subject: Subject, out: Path) -> Subject:
    """The same bot, started through call_counter.py (profile written to `out`)."""
    return through(subject, [WRAPPER], {"COUPLET_CALLS_OUT": str(out)})


def by_package(path: Path) -> tuple[int, Counter[str]]:
    """Every call in the profile, and the calls per package (or stdlib module)."""
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    packages: Counter[str] = Counter()
    for (file, _line, _name), (_cc, calls, *_rest) in stats.items():
        packages[package_of(file)] += calls
    return sum(packages.values()), packages


def package_of(file: str) -> str:
    found = re.search(r"site-packages/([^/]+)", file)
    if found:
        return found.group(1)
    for top in ("bot/", "cogs/", "bench/"):
        if f"/{top}" in file:
            tail = file.rsplit(f"/{top}", 1)[1]
            return top + tail.split("/")[0].removesuffix(".py")
    if file == "~":
        return "builtins (C functions and methods)"
    return "stdlib " + Path(file).name


async def measure(subject: Subject, scenario: str, count: int, flight: int, tmp: Path) -> int:
    """Run one warmed-up batch with the counter on; returns how many were answered."""
    async with AsyncExitStack() as stack:
        await subject.start(stack, tmp, timeout=180)
        warm = await plan(subject, scenario, 50)
        await subject.fire(warm, 50, flight)
        start = await plan(subject, scenario, count)
        batch = await between_signals(subject, start, count, flight)
        await asyncio.sleep(1.0)  # the profile is written by the bot's signal handler
        return batch.answered


async def run(args: argparse.Namespace, tmp: Path) -> None:
    results: dict[str, tuple[float, Counter[str]]] = {}
    for subject in subjects(args.baseline, args.env):
        out = tmp / f"{subject.name}.prof"
        (tmp / subject.name).mkdir()
        answered = await measure(
            counted(subject, out), args.scenario, args.count, args.flight, tmp / subject.name
        )
        total, packages = by_package(out)
        results[subject.name] = (total / answered, packages)
    floor_calls, floor_packages = results["floor"]
    print(f"{args.scenario}, {args.count} at {args.flight} in flight; load average {_load()}")
    print(f"{'bot':10} {'calls per interaction':>22} {'ratio':>6}")
    for name, (calls, _) in results.items():
        print(f"{name:10} {calls:22.0f} {calls / floor_calls:6.2f}")
    for name, (_calls, packages) in results.items():
        if name == "floor":
            continue
        print(f"\n{name}: calls per interaction beyond the floor's, by package")
        extra = {k: (v - floor_packages.get(k, 0)) / args.count for k, v in packages.items()}
        for package, more in sorted(extra.items(), key=lambda item: -item[1])[: args.top]:
            print(f"  {more:8.0f}  {package}")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", choices=SCENARIOS, default="complete")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--flight", type=int, default=1, help="interactions in flight")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--baseline", metavar="DIRS", help="also Couplet from these checkouts")
    add_env_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="couplet-calls-") as tmp:
        asyncio.run(run(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
