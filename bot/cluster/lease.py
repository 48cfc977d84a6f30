"""Leases: at most one process runs a piece of background work at a time.

A periodic loop asks before each run:

    if await bot.leases.claim("ledger-flush", ttl=5):
        await flush()

`claim` takes the lease when nobody holds it, or renews it when this process
already does, for `ttl` seconds (Redis `SET NX PX`, renewal by a script that
checks the holder). A holder that dies (kill -9) stops renewing, and another
process takes over once the lease lapses: pick `ttl` a few times the loop's
interval. Without Redis every lease is this process's.

Work guarded by a lease should still be safe to run twice (an atomic
`UPDATE … WHERE` in the database): a process stalled longer than `ttl`
may finish a run after another has started one.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

KEY_PREFIX = "couplet:lease:"

# Take the lease if free, renew it if ours; 1 when held after the call.
CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# Delete the lease only if ours.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Leases:
    """Leases held by this process (`owner`), on Redis or (alone) always granted."""

    def __init__(self, redis: Redis | None, owner: str) -> None:
        self.redis = redis
        self.owner = owner
        self._claim = redis.register_script(CLAIM) if redis is not None else None
        self._release = redis.register_script(RELEASE) if redis is not None else None
        self.held: set[str] = set()
        self.failing: set[str] = set()  # leases Redis could not be asked about
        # Successful claims per lease: each is one run of the guarded work (for /metrics).
        self.runs: Counter[str] = Counter()

    async def claim(self, name: str, ttl: float) -> bool:
        """Hold `name` for `ttl` seconds from now: True when this process may run its work.

        An unreachable Redis answers False (the work waits; running it in every
        process could do it twice).
        """
        if self._claim is None:
            granted = True
        else:
            from redis.exceptions import RedisError  # imported only with Redis

            try:
                granted = bool(
                    await self._claim(keys=[KEY_PREFIX + name], args=[self.owner, _ms(ttl)])
                )
            except RedisError as err:
                if name not in self.failing:  # said once, not every round
                    log.warning("could not claim the %s lease (%s); not running it", name, err)
                self.failing.add(name)
                granted = False
            else:
                self.failing.discard(name)
        if granted:
            if name not in self.held:
                log.info("this process now runs %s", name)
            self.held.add(name)
            self.runs[name] += 1
        else:
            self.held.discard(name)
        return granted

    async def release(self, name: str) -> None:
        """Give `name` up (if held), so another process can take it at once."""
        self.held.discard(name)
        if self._release is None:
            return
        from redis.exceptions import RedisError

        try:
            await self._release(keys=[KEY_PREFIX + name], args=[self.owner])
        except RedisError as err:
            log.warning("could not release the %s lease (%s); it will lapse", name, err)

    async def release_all(self) -> None:
        for name in list(self.held):
            await self.release(name)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
