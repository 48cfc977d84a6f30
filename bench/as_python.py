"""Runs a command line as `python` would (`-c CODE ARGS…` or `SCRIPT ARGS…`): the end
of the wrappers that prepare a bot's process before its own code starts
(call_counter.py, step_times.py). Imports nothing else, so the bot's process
holds what the bot itself imports."""

from __future__ import annotations

import runpy
import sys


def run(argv: list[str]) -> None:
    """Run `argv` (what followed `python` on the command line) in this process."""
    if argv[0] == "-c":
        sys.argv = ["-c", *argv[2:]]
        exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})
    else:
        sys.argv = argv
        runpy.run_path(argv[0], run_name="__main__")
