"""Stopping a background loop (discord.ext.tasks) without cutting an iteration short.

`Loop.cancel()` interrupts the body wherever it is: a sweep that closed a round
but has not announced it yet, a claim between its UPDATE and the job it starts,
a database call whose connection SQLAlchemy must then throw away (its close
finishing on a thread after the event loop is gone). A loop that marks its body
with `Iteration` is stopped instead: asleep, it is cancelled at once; inside its
body, it finishes that pass (up to a grace) and does not start another.
"""

from __future__ import annotations

import asyncio
from typing import Any

from discord.ext import tasks

# How long a pass under way may take to finish when its loop is stopped.
ITERATION_GRACE = 10.0


class Iteration:
    """Whether a loop is inside its body: `with iteration: ...` around the body."""

    def __init__(self) -> None:
        self.running = False

    def __enter__(self) -> None:
        self.running = True

    def __exit__(self, *exc: object) -> None:
        self.running = False


async def stop_loop(
    loop: tasks.Loop[Any], iteration: Iteration, grace: float = ITERATION_GRACE
) -> None:
    """Stop `loop`: a pass under way finishes first (cancelled after `grace`
    seconds); returns once the loop's task has ended."""
    task = loop.get_task()
    if task is None or task.done():
        return
    if iteration.running:
        loop.stop()  # no further pass; this one runs to its end
        await asyncio.wait([task], timeout=grace)
    if not task.done():
        loop.cancel()
    await asyncio.wait([task])  # its end, without taking its exception or cancellation
