"""IDENTIFY turns: Discord starts at most one session per `max_concurrency` bucket
every 5 seconds, across every process of the bot.

A shard's bucket is `shard_id % max_concurrency` (`GET /gateway/bot` gives
`session_start_limit.max_concurrency`). Before a shard identifies it waits
for its bucket's turn: with Redis, `SET couplet:identify:<bucket> NX PX 5000`
succeeds for one caller, and the key's expiry is the 5 seconds the next one
waits, whichever process it is in. Without Redis the turns are kept here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

IDENTIFY_INTERVAL = 5.0
KEY_PREFIX = "couplet:identify:"


class IdentifyGate:
    """Waits for a shard's IDENTIFY turn (see the module docstring)."""

    def __init__(
        self, redis: Redis | None, owner: str, *, interval: float = IDENTIFY_INTERVAL
    ) -> None:
        self.redis = redis
        self.owner = owner
        self.interval = interval
        self._last: dict[int, float] = {}  # bucket -> monotonic time of its last turn (alone)
        self._lock = asyncio.Lock()
        self.waited = 0.0  # seconds spent waiting for turns (for logs and tests)

    async def wait_turn(self, shard_id: int, max_concurrency: int) -> None:
        """Return when `shard_id` may send IDENTIFY."""
        bucket = shard_id % max(1, max_concurrency)
        started = time.monotonic()
        if self.redis is None:
            await self._wait_here(bucket)
        else:
            from redis.exceptions import RedisError  # imported only with Redis

            try:
                await self._wait_shared(bucket)
            except RedisError as err:
                # Better to connect than to wait for Redis: Discord refuses a session
                # started too early (INVALID_SESSION), and discord.py tries again.
                log.warning("IDENTIFY turns cannot be shared (%s); keeping them here", err)
                await self._wait_here(bucket)
        waited = time.monotonic() - started
        self.waited += waited
        if waited > 0.05:
            log.info("shard %s waited %.1f s for its IDENTIFY turn", shard_id, waited)

    async def _wait_here(self, bucket: int) -> None:
        async with self._lock:
            last = self._last.get(bucket)
            if last is not None:
                await asyncio.sleep(max(0.0, last + self.interval - time.monotonic()))
            self._last[bucket] = time.monotonic()

    async def _wait_shared(self, bucket: int) -> None:
        assert self.redis is not None
        key = f"{KEY_PREFIX}{bucket}"
        ms = round(self.interval * 1000)
        while not await self.redis.set(key, self.owner, nx=True, px=ms):
            left = await self.redis.pttl(key)
            # -2: gone since; -1 cannot happen (always set with an expiry).
            await asyncio.sleep(max(left, 20) / 1000)
