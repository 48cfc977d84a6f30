"""A per-server read-through cache that committed writes invalidate.

Discord sends all of a server's events to one shard, and one process runs a
shard, so a process-local cache stays correct as long as every write goes
through the same process's services (which invalidate after commit).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class GuildCache(Generic[T]):
    """Values loaded per guild id, kept until `invalidate(guild_id)`.

    A load that started before an invalidation does not store its (possibly
    stale) result: each guild has a generation number that invalidation bumps.
    Concurrent misses for one guild share a single load.
    """

    def __init__(self, loader: Callable[[int], Awaitable[T]]) -> None:
        self._loader = loader
        self._values: dict[int, T] = {}
        self._generations: dict[int, int] = {}
        self._loading: dict[int, asyncio.Future[T]] = {}
        self.loads = 0  # how many times the loader ran (for tests and benchmarks)

    async def get(self, guild_id: int) -> T:
        """The cached value, loading it on a miss."""
        while True:
            try:
                return self._values[guild_id]
            except KeyError:
                pass
            pending = self._loading.get(guild_id)
            if pending is None:
                return await self._load(guild_id)
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # we were cancelled, not the shared load
                # The task doing the shared load was cancelled: try again.

    async def _load(self, guild_id: int) -> T:
        generation = self._generations.get(guild_id, 0)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._loading[guild_id] = future
        try:
            self.loads += 1
            value = await self._loader(guild_id)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as err:
            future.set_exception(err)
            # Nobody else may be waiting; don't let asyncio log "never retrieved".
            future.exception()
            raise
        else:
            future.set_result(value)
            if self._generations.get(guild_id, 0) == generation:
                self._values[guild_id] = value
            return value
        finally:
            if self._loading.get(guild_id) is future:
                del self._loading[guild_id]

    def invalidate(self, guild_id: int) -> None:
        """Forget the guild's value; the next `get` reads the database."""
        self._values.pop(guild_id, None)
        self._generations[guild_id] = self._generations.get(guild_id, 0) + 1
        # A load in flight may have read before the write; later callers must
        # not join it.
        self._loading.pop(guild_id, None)

    def clear(self) -> None:
        """Forget everything."""
        for guild_id in list(self._values) + list(self._loading):
            self.invalidate(guild_id)
