"""What several bot processes share live, through Redis (`REDIS_URL`).

- `Leases`: which process runs a piece of background work (the ledger flush,
  the AutoMod refresh, a story sweeper): `if await leases.claim(name, ttl):`.
- `IdentifyGate`: IDENTIFY turns in Discord's `max_concurrency` buckets.
- `InvalidationBus`: a change to a server's cached configuration reaches every
  other process's cache (Redis pub/sub).

Without Redis each part works inside the one process: every lease is this
process's, IDENTIFY turns are kept in memory, nothing is published.
`Cluster.from_settings` builds all three on one Redis client.
"""

from __future__ import annotations

import os
import secrets
import socket
from typing import TYPE_CHECKING

from bot.cluster.bus import InvalidationBus
from bot.cluster.identify import IDENTIFY_INTERVAL, IdentifyGate
from bot.cluster.lease import Leases

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bot.settings import Settings


def instance_name() -> str:
    """A name for this process that no other (here or on another machine) shares."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Cluster:
    """This process's part in a group of bot processes (alone without Redis)."""

    def __init__(self, redis: Redis | None, *, instance: str | None = None) -> None:
        self.redis = redis
        self.instance = instance or instance_name()
        self.leases = Leases(redis, self.instance)
        self.identify = IdentifyGate(redis, self.instance)
        self.bus = InvalidationBus(redis, self.instance)

    @classmethod
    def from_settings(cls, settings: Settings) -> Cluster:
        """On REDIS_URL's server when it is set, else alone."""
        if settings.redis_url is None:
            return cls(None)
        from redis.asyncio import Redis

        return cls(Redis.from_url(settings.redis_url.get_secret_value()))

    @property
    def shared(self) -> bool:
        """Whether other processes can see what this one does (Redis is configured)."""
        return self.redis is not None

    async def start(self) -> None:
        await self.bus.start()

    async def aclose(self) -> None:
        """Stop listening and give up every lease, so another process takes over at once."""
        await self.bus.aclose()
        await self.leases.release_all()
        if self.redis is not None:
            await self.redis.aclose()


__all__ = ["IDENTIFY_INTERVAL", "Cluster", "IdentifyGate", "InvalidationBus", "Leases"]
