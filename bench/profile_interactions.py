"""Where one interaction's CPU goes: py-spy attached to a bot process while it answers.

Starts one bot (`couplet` or `floor`) as in bench_interactions.py, warms it
up, prepares a batch (clicks get their replies first), then samples the bot
process with py-spy (every thread, without pausing it) for exactly the
measured batch, and prints the CPU per interaction of each step of the hot
path (samples whose stack passes through the step's function), per thread,
and the functions with the most own time.

    .venv/bin/python bench/profile_interactions.py --bot couplet --scenario complete
    .venv/bin/python bench/profile_interactions.py --bot floor --scenario regenerate

py-spy comes with the dev extra (`pip install py-spy`); it needs ptrace
permission on the bot process. bench/README.md holds the findings.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_interactions import SCENARIOS, plan
from harness import COUPLET_COMMAND, FLOOR_COMMAND, Subject, add_env_option, env_settings

RATE = 500  # samples per second

# The steps of the hot path: a sample counts for a step when a frame of its
# stack is that function (name, and a piece of its file's path). Steps nest.
STEPS = [
    ("event loop: everything", "", ""),
    ("  gateway: receive and parse events", "received_message", "discord/gateway.py"),
    ("  interaction object built", "parse_interaction_create", "discord/state.py"),
    ("  app command: options parsed", "_transform_arguments", "app_commands/commands.py"),
    ("  component: dynamic item built", "_invoke_dynamic_item", "discord/ui/view.py"),
    ("  defer (REST call)", "defer", "discord/interactions.py"),
    ("  edit_message (REST call)", "edit_message", "discord/interactions.py"),
    ("  generation: prepare", "prepare", "services/generation.py"),
    ("    parameters resolved", "resolve", "services/parameters.py"),
    ("    CompletionRequest built", "build", "completions/request.py"),
    ("  generation: stored one loaded", "_stored", "services/generation.py"),
    ("  backend call (client.complete)", "complete", "completions/client.py"),
    ("    httpx send", "send", "httpx/_client.py"),
    ("    result parsed", "read", "completions/wire.py"),
    ("  generation: stored", "_save", "services/generation.py"),
    ("    database write (event loop side)", "add", "storage/generations.py"),
    ("  render: completion_messages", "completion_messages", "render/completion.py"),
    ("  view built (view_for)", "view_for", "completions/_views.py"),
    ("  edit_original_response (REST call)", "edit_original_response", "discord/interactions.py"),
    ("  floor: backend post", "post", "httpx/_client.py"),
    ("database driver thread (aiosqlite)", "_connection_worker_thread", "aiosqlite/core.py"),
]


def parse(path: Path) -> list[tuple[list[str], int]]:
    """py-spy's raw output: one `frame;frame;… count` line per distinct stack."""
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        stacks.append((stack.split(";"), int(samples)))
    return stacks


def matches(frame: str, name: str, where: str) -> bool:
    # A frame reads "Class.function (path/to/file.py:line)".
    function, _, location = frame.partition(" (")
    return (function == name or function.endswith("." + name)) and where in location


def report(path: Path, count: int, top: int) -> None:
    stacks = parse(path)
    ms = 1000 / RATE / count
    loop_thread = Counter(frames[0] for frames, _ in stacks).most_common(1)[0][0]
    print(f"{'step':44} {'ms per interaction':>18}")
    for label, name, where in STEPS:
        if not name:
            n = sum(c for frames, c in stacks if frames[0] == loop_thread)
        else:
            n = sum(c for frames, c in stacks if any(matches(f, name, where) for f in frames))
        if n:
            print(f"{label:44} {n * ms:18.3f}")
    threads: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for frames, n in stacks:
        # Threads are named by id; a pool's threads come and go, so group them by kind.
        threads[frames[0].split(": ", 1)[-1].split(" (")[-1]] += n
        leaves[frames[-1]] += n
    print("\nBy thread:")
    for thread, n in threads.most_common():
        print(f"  {n * ms:7.3f}  {thread}")
    print(f"\nTop {top} functions by own time (ms per interaction):")
    for leaf, n in leaves.most_common(top):
        print(f"  {n * ms:7.3f}  {leaf}")


async def run(args: argparse.Namespace, tmp: Path) -> None:
    command = [*COUPLET_COMMAND, "run"] if args.bot == "couplet" else FLOOR_COMMAND
    # Couplet from another checkout (before/after profiles): PYTHONPATH wins over the install.
    env = env_settings(args.env)
    if args.checkout:
        env["PYTHONPATH"] = args.checkout
    subject = Subject(args.bot, command, env)
    out = tmp / "profile.txt"
    spy = str(Path(sys.executable).with_name("py-spy"))
    async with AsyncExitStack() as stack:
        await subject.start(stack, tmp, timeout=180)
        warm = await plan(subject, args.scenario, 50)
        await subject.fire(warm, 50, args.flight)
        start = await plan(subject, args.scenario, args.count)
        sampler = subprocess.Popen(  # noqa: ASYNC220
            [
                spy,
                "record",
                "--pid",
                str(subject.pid),
                "--rate",
                str(RATE),
                "--nonblocking",
                "--threads",
                "--format",
                "raw",
                "-o",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        await asyncio.sleep(1.0)  # let py-spy attach
        batch = await subject.fire(start, args.count, args.flight)
        sampler.send_signal(signal.SIGINT)
        _, err = await asyncio.to_thread(sampler.communicate)
    if not out.exists():
        raise SystemExit(f"py-spy wrote nothing: {err.decode(errors='replace')[-2000:]}")
    print(
        f"{args.bot}, {args.scenario}: {batch.answered} answered at {args.flight} in flight, "
        f"{batch.rate:.0f}/s, {batch.cpu_per * 1000:.2f} ms CPU each (with py-spy attached)\n"
    )
    report(out, batch.answered, args.top)
    if args.raw:
        shutil.copyfile(out, args.raw)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bot", choices=("couplet", "floor"), default="couplet")
    parser.add_argument("--scenario", choices=SCENARIOS, default="complete")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--flight", type=int, default=20, help="interactions in flight")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--raw", metavar="PATH", help="also keep py-spy's collapsed stacks here")
    add_env_option(parser)
    parser.add_argument(
        "--checkout", metavar="DIR", help="profile Couplet from this checkout (absolute path)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="couplet-profile-") as tmp:
        asyncio.run(run(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
