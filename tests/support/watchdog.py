"""A test that runs far too long ends the session with every stack printed.

A hang (say, a task that will not finish when its event loop is closed)
would otherwise hold CI until its own limit, with nothing said about where.
`HANG_SECONDS` (or `COUPLET_TEST_HANG_SECONDS`) after a test started its
setup, call and teardown, this prints the test's id, every thread's stack and
every unfinished asyncio task's stack, then exits the process with
`EXIT_CODE`. No test of the suite comes near the limit: it is for hangs only.
"""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import os
import sys
import threading
from collections.abc import Callable

HANG_SECONDS = float(os.environ.get("COUPLET_TEST_HANG_SECONDS", "900"))
EXIT_CODE = 3


class Watchdog:
    """Armed around one test at a time."""

    def __init__(self, seconds: float = HANG_SECONDS) -> None:
        self.seconds = seconds
        self._timer: threading.Timer | None = None
        # Called first when it fires: pytest's capture must let the stacks through.
        self.uncapture: Callable[[], None] = lambda: None

    def arm(self, test_id: str) -> None:
        self.disarm()
        self._timer = threading.Timer(self.seconds, self._fire, args=(test_id,))
        self._timer.daemon = True
        self._timer.start()

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self, test_id: str) -> None:
        self.uncapture()
        err = sys.stderr
        err.write(f"\n*** {test_id} has not finished in {self.seconds:.0f} s: a hang.\n")
        err.write("*** Every thread:\n")
        err.flush()
        faulthandler.dump_traceback(file=err, all_threads=True)
        err.write("*** Every unfinished asyncio task:\n")
        # Read from another thread while the loop may run: good enough to say where.
        for task in [o for o in gc.get_objects() if isinstance(o, asyncio.Task)]:
            if not task.done():
                err.write(f"--- {task!r}\n")
                task.print_stack(file=err)
        err.flush()
        os._exit(EXIT_CODE)
