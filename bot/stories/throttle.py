"""Keeping often-edited messages (a round's tally) within Discord's edit budget.

Discord allows about five edits per message in five seconds. `EditThrottle`
spaces the edits of one message at least `interval` seconds apart and
coalesces the requests that arrive meanwhile: the edit that runs is the
latest one asked for, so the message always ends up current, and a burst of
fifty votes costs a handful of edits, never a 429.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable

log = logging.getLogger(__name__)

# 1.2 s apart: at most five edits in any five seconds, with room for clock jitter.
EDIT_INTERVAL = 1.2

Edit = Callable[[], Awaitable[None]]


class EditThrottle:
    """Runs the latest edit asked for each key, at most one every `interval` seconds."""

    def __init__(
        self, interval: float = EDIT_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[Hashable, float] = {}
        self._pending: dict[Hashable, Edit] = {}
        self._tasks: dict[Hashable, asyncio.Task[None]] = {}

    def request(self, key: Hashable, edit: Edit) -> None:
        """Ask for `edit` (it replaces any edit of `key` still waiting)."""
        self._pending[key] = edit
        if key not in self._tasks:
            task = asyncio.create_task(self._run(key), name=f"throttled edit {key}")
            self._tasks[key] = task

    async def _run(self, key: Hashable) -> None:
        try:
            while key in self._pending:
                wait = self._last.get(key, -self.interval) + self.interval - self.clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                edit = self._pending.pop(key)
                self._last[key] = self.clock()
                try:
                    await edit()
                except Exception:
                    log.warning("a throttled edit of %s failed", key, exc_info=True)
        finally:
            self._tasks.pop(key, None)
            self._forget_old()

    def _forget_old(self) -> None:
        """Drop the times of keys idle for a while (memory stays flat)."""
        cutoff = self.clock() - 10 * self.interval
        for key in [k for k, at in self._last.items() if at < cutoff and k not in self._tasks]:
            del self._last[key]

    async def drain(self) -> None:
        """Wait until every edit asked for has run (for a clean stop and for tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    def cancel(self) -> None:
        """Drop what is waiting (the cog is unloading)."""
        self._pending.clear()
        for task in self._tasks.values():
            task.cancel()
