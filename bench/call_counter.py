"""Runs a bot with cProfile ready: SIGUSR1 starts counting, SIGUSR2 stops and writes
the profile to $COUPLET_CALLS_OUT. Part of bench/count_calls.py, not a bench itself.

    python -P bench/call_counter.py -c "CODE" [ARGS…]    # as `python -c CODE ARGS…`
    python -P bench/call_counter.py SCRIPT [ARGS…]        # as `python SCRIPT ARGS…`

Only the main thread (the event loop) is profiled.
"""

from __future__ import annotations

import cProfile
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # started with -P

from as_python import run

profile = cProfile.Profile()


def start(*_: object) -> None:
    profile.enable()


def stop(*_: object) -> None:
    profile.disable()
    profile.dump_stats(os.environ["COUPLET_CALLS_OUT"])


signal.signal(signal.SIGUSR1, start)
signal.signal(signal.SIGUSR2, stop)
run(sys.argv[1:])
