"""Time-based Discord snowflakes, so `created_at` and `expires_at` make sense to discord.py."""

from __future__ import annotations

import itertools
import time

DISCORD_EPOCH_MS = 1420070400000


class SnowflakeGenerator:
    """Makes unique, increasing snowflakes: `(ms - epoch) << 22 | worker | process | n`."""

    def __init__(self, worker: int = 1, process: int = 0) -> None:
        self._prefix = ((worker & 0x1F) << 17) | ((process & 0x1F) << 12)
        self._counter = itertools.count()
        self._last = 0

    def next(self) -> int:
        """A new snowflake, strictly greater than the previous one."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        value = (ms << 22) | self._prefix | (next(self._counter) & 0xFFF)
        # Two ids in the same millisecond with a wrapped counter would collide or go backwards.
        if value <= self._last:
            value = self._last + 1
        self._last = value
        return value


def snowflake_time_ms(snowflake: int) -> int:
    """Unix milliseconds encoded in a snowflake."""
    return (snowflake >> 22) + DISCORD_EPOCH_MS
