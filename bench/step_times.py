"""CPU of named functions inside the running bot: what a step costs where it runs.

A micro-benchmark runs a function in a tight loop, with the CPU's caches warm;
inside the bot the same call follows thousands of other calls and pays for
cold caches (a small SQLite transaction: about 30 µs in a loop, 150 µs with
the caches cleared between calls — bench/README.md, item 25). cProfile
inflates every Python call, py-spy samples wall time. This script measures
the thread CPU time (`time.thread_time`) spent inside each named function,
in the bot process, for one measured batch:

    .venv/bin/python bench/step_times.py                       # the /complete hot path
    .venv/bin/python bench/step_times.py --flight 20
    .venv/bin/python bench/step_times.py --fn bot.storage.database:Database.run_write
    .venv/bin/python bench/step_times.py --bot floor --fn httpx:AsyncClient.send
    .venv/bin/python bench/step_times.py --timeline 5 --fn MODULE:QUALNAME ...

The bot (Couplet, or `--bot floor`) runs as in bench_interactions.py (its own
emulator and instant stub backend), started through this file (`--inside`),
which wraps the functions before the bot starts: SIGUSR1 starts the clocks,
SIGUSR2 writes them to $COUPLET_STEP_TIMES. A coroutine function is timed only while
its own steps run, not while it waits. A figure includes what the function
calls (nested functions are counted in both). `json.dumps` is counted by the
package that called it, and the garbage collector's runs by generation.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import importlib
import inspect
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Generator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

THIS = str(Path(__file__).resolve())
# Discord's side of a /complete, in both bots.
DISCORD_STEPS = (
    "discord.interactions:InteractionResponse.defer",
    "discord.interactions:Interaction.edit_original_response",
)
# The floor's backend call.
FLOOR_STEPS = (*DISCORD_STEPS, "httpx:AsyncClient.post")
# The steps of a /complete in Couplet, from the member's options to the reply's buttons.
HOT_PATH = (
    *DISCORD_STEPS,
    "bot.services.parameters:ParameterResolver.resolve",
    "bot.services.generation:GenerationService.prepare",
    "bot.services.generation:GenerationService.admit",
    "bot.completions.client:CompletionsClient.complete",
    "bot.services.generation:GenerationService._moderate",
    "bot.moderation.profanity_model:LinearProfanityModel.score",
    "bot.services.generation:GenerationService._save",
    "bot.storage.database:_Writer.transaction",
    "bot.storage.jobs:_apply",
    "bot.storage.generations:_insert_marking",
    "bot.render.completion:completion_messages",
    "cogs.completions._views:view_for",
)

# ------------------------------------------------------------ inside the bot

_totals: dict[str, list[float]] = {}  # name -> [calls, seconds]
_events: list[tuple[float, str]] = []  # (perf_counter, "name>" or "name<") for --timeline
_on = False


def _add(name: str, spent: float) -> None:
    total = _totals.setdefault(name, [0, 0.0])
    total[0] += 1
    total[1] += spent


class _Pass:
    """Awaits what a driven coroutine yielded (a future), for its owner's task."""

    def __init__(self, yielded: Any) -> None:
        self.yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield self.yielded)


def _timed(
    name: str, function: Callable[..., Any], *, by_caller: bool = False
) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def steps(*args: Any, **kwargs: Any) -> Any:
            if not _on:
                return await function(*args, **kwargs)
            coro = function(*args, **kwargs)
            spent, sent, thrown = 0.0, None, None
            _events.append((time.perf_counter(), name + ">"))
            try:
                while True:
                    start = time.thread_time()
                    try:
                        yielded = coro.throw(thrown) if thrown is not None else coro.send(sent)
                    except StopIteration as done:
                        return done.value
                    finally:  # the last step too, whether it returned or raised
                        spent += time.thread_time() - start
                    try:
                        sent, thrown = await _Pass(yielded), None
                    except BaseException as error:  # handed to the coroutine, as await would
                        sent, thrown = None, error
            finally:
                _events.append((time.perf_counter(), name + "<"))
                _add(name, spent)

        return steps

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not _on:
            return function(*args, **kwargs)
        if not by_caller:
            _events.append((time.perf_counter(), name + ">"))
        start = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent = time.thread_time() - start
            if by_caller:  # the package whose code called it
                caller = sys._getframe(1).f_code.co_filename
                _add(f"{name} (from {caller.split('site-packages/')[-1].split('/')[0]})", spent)
            else:
                _events.append((time.perf_counter(), name + "<"))
                _add(name, spent)

    return call


def _resolve(target: str) -> tuple[Any, str]:
    """`MODULE:QUALNAME` as (what holds the function, its attribute name)."""
    module_name, _, path = target.partition(":")
    owner: Any = importlib.import_module(module_name)
    *parents, attribute = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    getattr(owner, attribute)
    return owner, attribute


def _wrap(target: str) -> None:
    owner, attribute = _resolve(target)
    original = getattr(owner, attribute)
    timed = _timed(target, original)
    setattr(owner, attribute, timed)
    # Modules imported already may hold it under their own name (`from m import f`).
    for module in list(sys.modules.values()):
        for name, value in list(vars(module).items() if module is not None else ()):
            if value is original:
                setattr(module, name, timed)


def _wrap_json() -> None:
    json.dumps = _timed("json.dumps", json.dumps, by_caller=True)


_collecting: dict[int, float] = {}


def _on_gc(phase: str, info: dict[str, int]) -> None:
    """The collector's own time, by generation (it runs inside whatever allocated)."""
    if not _on:
        return
    if phase == "start":
        _collecting[info["generation"]] = time.thread_time()
    elif (started := _collecting.pop(info["generation"], None)) is not None:
        _add(f"garbage collection, generation {info['generation']}", time.thread_time() - started)


def _start(*_: object) -> None:
    global _on
    _totals.clear()
    _events.clear()
    _on = True


def _stop(*_: object) -> None:
    global _on
    _on = False
    Path(os.environ["COUPLET_STEP_TIMES"]).write_text(
        json.dumps({"totals": _totals, "events": _events})
    )


def inside(argv: list[str]) -> None:
    """Wrap the functions named in $COUPLET_STEPS, then run `-c CODE ARGS…` as python would."""
    _wrap_json()  # before any module binds json.dumps
    for target in os.environ["COUPLET_STEPS"].split(","):
        _wrap(target)
    gc.callbacks.append(_on_gc)
    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
    sys.path.insert(0, str(Path(THIS).parent))  # started with -P
    from as_python import run

    run(argv)


# ------------------------------------------------------------ the bench


async def measure(args: argparse.Namespace, tmp: Path) -> None:
    sys.path.insert(0, str(Path(THIS).parent))
    from bench_interactions import plan, subjects
    from harness import between_signals, through

    bot = next(s for s in subjects(None, args.env) if s.name == args.bot)
    out = tmp / "steps.json"
    env = {"COUPLET_STEPS": ",".join(args.fn), "COUPLET_STEP_TIMES": str(out)}
    subject = through(bot, [THIS, "--inside"], env)
    async with AsyncExitStack() as stack:
        await subject.start(stack, tmp, timeout=180)
        warm = await plan(subject, args.scenario, 100)
        await subject.fire(warm, 100, args.flight)
        start = await plan(subject, args.scenario, args.count)
        batch = await between_signals(subject, start, args.count, args.flight)
        for _ in range(50):  # the bot's signal handler writes the file
            await asyncio.sleep(0.1)
            if out.exists():
                break
    found = json.loads(out.read_text())
    totals = found["totals"]
    n = max(batch.answered, 1)
    print(
        f"{args.bot}, {args.scenario}, {batch.answered} answered at {args.flight} in flight; "
        f"bot CPU {batch.cpu_per * 1000:.2f} ms per interaction; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"{'calls/i':>8} {'µs each':>8} {'µs per i':>9}  function")
    for name, (calls, spent) in sorted(totals.items(), key=lambda item: -item[1][1]):
        print(f"{calls / n:8.2f} {spent / calls * 1e6:8.0f} {spent / n * 1e6:9.0f}  {name}")
    if args.timeline:
        print_timeline(found["events"], args.fn[0], args.timeline)


def print_timeline(events: list[tuple[float, str]], first: str, count: int) -> None:
    """When each function started (>) and ended (<), in µs after `first` started, for
    `count` interactions taken from the middle of the batch."""
    runs: list[list[tuple[float, str]]] = []
    for at, event in events:
        if event == first + ">":
            runs.append([])
        if runs:
            runs[-1].append((at, event))
    middle = max(0, len(runs) // 2 - count // 2)
    print(f"\ntimeline of {min(count, len(runs))} interactions, µs after {first} started:")
    for run in runs[middle : middle + count]:
        start = run[0][0]
        print("  " + "  ".join(f"{e.split(':')[-1]}{(at - start) * 1e6:.0f}" for at, e in run))


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--inside":
        inside(sys.argv[2:])
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bot", choices=("couplet", "floor"), default="couplet")
    parser.add_argument(
        "--scenario", choices=("complete", "next", "regenerate"), default="complete"
    )
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--flight", type=int, default=1, help="interactions in flight")
    parser.add_argument(
        "--fn",
        action="append",
        metavar="MODULE:QUALNAME",
        help="a function to time (repeatable; default: the /complete hot path)",
    )
    parser.add_argument(
        "--timeline",
        type=int,
        default=0,
        metavar="N",
        help="also print when each function started and ended in N interactions, "
        "after the first --fn (at 1 in flight)",
    )
    parser.add_argument("--env", action="append", metavar="KEY=VALUE", help="a setting")
    args = parser.parse_args()
    args.fn = args.fn or list(HOT_PATH if args.bot == "couplet" else FLOOR_STEPS)
    for target in args.fn:  # a wrong name is said here, not by a bot that did not start
        try:
            _resolve(target)
        except (ImportError, AttributeError) as error:
            parser.error(f"--fn {target}: {error}")
    with tempfile.TemporaryDirectory(prefix="couplet-steps-") as tmp:
        asyncio.run(measure(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
