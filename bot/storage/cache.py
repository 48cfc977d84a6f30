"""A per-server read-through cache that committed writes invalidate, bounded in size.

Discord sends all of a server's events to one shard, and one process runs a
shard, so a process-local cache stays correct as long as every write goes
through the same process's services (which call `changed` after commit).
With several processes a server can still be served by two (a process
replaced while its successor already runs, shards moved): `changed` then
also calls `on_change`, which the bot points at the invalidation bus
(`bot.cluster.bus`) so every other process forgets the entry too.

It keeps at most `max_size` servers (default `GUILD_CACHE_SIZE`), dropping
the least recently read one first: memory stays flat however many servers
the bot is in, and a dropped server is simply read from the database again.
Entries are kept small because there are so many: most servers have no rows
of their own in most caches, and their values share one empty mapping
(`frozen`) or one default value instead of objects of their own.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

log = logging.getLogger(__name__)

# Servers kept per cache. Each entry is one server's settings or presets (a
# few KB at most); 10,000 covers the servers active at once on a process
# running several shards.
GUILD_CACHE_SIZE = 10_000

# The one read-only empty mapping that cached values share.
EMPTY: Mapping[Any, Any] = MappingProxyType({})


def frozen(mapping: dict[K, V]) -> Mapping[K, V]:
    """`mapping` read-only, for a cached value; the shared `EMPTY` when it is empty (a
    dict and its proxy cost about 250 bytes, times every server cached)."""
    return MappingProxyType(mapping) if mapping else EMPTY


@dataclass(eq=False)
class _Load(Generic[T]):
    """One running load; `stale` once an invalidation came while it ran."""

    future: asyncio.Future[T]
    stale: bool = False


class GuildCache(Generic[T]):
    """Values loaded per guild id, kept until `invalidate(guild_id)` or evicted (LRU).

    A load that started before an invalidation does not store its (possibly
    stale) result. Concurrent misses for one guild share a single load.
    """

    def __init__(
        self, loader: Callable[[int], Awaitable[T]], *, max_size: int = GUILD_CACHE_SIZE
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._loader = loader
        self.max_size = max_size
        self._values: OrderedDict[int, T] = OrderedDict()
        self._joinable: dict[int, _Load[T]] = {}  # the load later misses share
        # Every load still running per guild (an invalidated one may outlive the next).
        self._running: dict[int, set[_Load[T]]] = {}
        self.loads = 0  # how many times the loader ran (for tests and benchmarks)
        self.evictions = 0
        # Told after a committed change, so other processes forget the entry too.
        self.on_change: Callable[[int | None], Awaitable[None]] | None = None

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, guild_id: object) -> bool:
        return guild_id in self._values

    async def get(self, guild_id: int) -> T:
        """The cached value, loading it on a miss."""
        while True:
            if guild_id in self._values:
                self._values.move_to_end(guild_id)
                return self._values[guild_id]
            pending = self._joinable.get(guild_id)
            if pending is None:
                return await self._load(guild_id)
            try:
                return await asyncio.shield(pending.future)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not pending.future.cancelled() or (task is not None and task.cancelling()):
                    raise  # we were cancelled (perhaps with the load, as at shutdown)
                # Only the task doing the shared load was cancelled: try again.

    async def _load(self, guild_id: int) -> T:
        load: _Load[T] = _Load(asyncio.get_running_loop().create_future())
        self._joinable[guild_id] = load
        self._running.setdefault(guild_id, set()).add(load)
        try:
            self.loads += 1
            value = await self._loader(guild_id)
        except asyncio.CancelledError:
            load.future.cancel()
            raise
        except Exception as err:
            load.future.set_exception(err)
            # Nobody else may be waiting; don't let asyncio log "never retrieved".
            load.future.exception()
            raise
        else:
            load.future.set_result(value)
            if not load.stale:
                self._store(guild_id, value)
            return value
        finally:
            if self._joinable.get(guild_id) is load:
                del self._joinable[guild_id]
            running = self._running[guild_id]
            running.discard(load)
            if not running:
                del self._running[guild_id]

    def _store(self, guild_id: int, value: T) -> None:
        self._values[guild_id] = value
        self._values.move_to_end(guild_id)
        while len(self._values) > self.max_size:
            self._values.popitem(last=False)
            self.evictions += 1

    def invalidate(self, guild_id: int) -> None:
        """Forget the guild's value; the next `get` reads the database."""
        self._values.pop(guild_id, None)
        # A load in flight may have read before the write: it must not store
        # its result, and later callers must not join it.
        for load in self._running.get(guild_id, ()):
            load.stale = True
        self._joinable.pop(guild_id, None)

    def clear(self) -> None:
        """Forget everything."""
        for guild_id in list(self._values) + list(self._running):
            self.invalidate(guild_id)

    def forget(self, guild_id: int | None) -> None:
        """Forget one server's entry, or every entry for None."""
        if guild_id is None:
            self.clear()
        else:
            self.invalidate(guild_id)

    async def changed(self, guild_id: int | None) -> None:
        """A committed write changed the server's value (None: every server's): forget it
        here and tell `on_change` (the other processes). A failure to tell is logged."""
        self.forget(guild_id)
        if self.on_change is not None:
            try:
                await self.on_change(guild_id)
            except Exception:
                log.warning("could not announce a cache change for %s", guild_id, exc_info=True)
