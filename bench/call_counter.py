"""Runs a bot with cProfile ready: SIGUSR1 starts counting, SIGUSR2 stops and writes
the profile to $COUPLET_CALLS_OUT. Part of bench/count_calls.py, not a bench itself.

    python -P bench/call_counter.py -c "CODE" [ARGS…]    # as `python -c CODE ARGS…`
    python -P bench/call_counter.py SCRIPT [ARGS…]        # as `python SCRIPT ARGS…`

Only the main thread (the event loop) is profiled.
"""

from __future__ import annotations

import cProfile
import os
import runpy
import signal
import sys

profile = cProfile.Profile()


def start(*_: object) -> None:
    profile.enable()


def stop(*_: object) -> None:
    profile.disable()
    profile.dump_stats(os.environ["COUPLET_CALLS_OUT"])


signal.signal(signal.SIGUSR1, start)
signal.signal(signal.SIGUSR2, stop)
if sys.argv[1] == "-c":
    code = sys.argv[2]
    sys.argv = ["-c", *sys.argv[3:]]
    exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
else:
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
