"""Cache invalidation across processes, over Redis pub/sub.

Each process keeps server settings, presets, limits and moderation policies
in a read-through cache (`bot.storage.cache.GuildCache`) that its own writes
invalidate. With several processes a write in one must reach the others'
caches: after committing, the writer publishes `{topic, guild}` on one
channel, and every other process forgets that server's entry in the cache
named by the topic (or everything, for a `None` guild).

Pub/sub delivers only to processes listening at that moment, so a process
whose connection to Redis drops forgets every cached entry when it listens
again (what it missed meanwhile is unknown).

Why Redis and not PostgreSQL's LISTEN/NOTIFY: Redis already carries what
processes share live (counters, the queue, leases), a NOTIFY needs one
database connection held open per process outside the pool (and does not
work through a transaction-mode pooler such as PgBouncer), and SQLite has no
equivalent. The writer publishes right after its own commit, so a reader
never caches the old value after it heard the news.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)

CHANNEL = "couplet:invalidate"
# Seconds between attempts to listen again after the connection dropped.
RECONNECT_DELAY = 1.0

# Forget one server's entry, or every entry for None.
Forget = Callable[[int | None], None]


class InvalidationBus:
    """Publishes this process's cache changes and applies the others' (see the module doc)."""

    def __init__(self, redis: Redis | None, owner: str) -> None:
        self.redis = redis
        self.owner = owner
        self._caches: dict[str, Forget] = {}
        self._task: asyncio.Task[None] | None = None
        # Set while subscribed (tests and /readyz wait on it).
        self.listening = asyncio.Event()
        self.published: Counter[str] = Counter()
        self.received: Counter[str] = Counter()

    def attach(self, topic: str, forget: Forget) -> None:
        """Apply other processes' changes on `topic` with `forget`."""
        self._caches[topic] = forget

    async def publish(self, topic: str, guild_id: int | None) -> None:
        """Tell the other processes that `topic`'s entry for `guild_id` (None: all) changed.

        A failure is logged, not raised: the write is committed, and a process
        that lost Redis forgets its whole cache when it listens again.
        """
        if self.redis is None:
            return
        from redis.exceptions import RedisError  # imported only with Redis

        message = json.dumps({"from": self.owner, "topic": topic, "guild": guild_id})
        try:
            await self.redis.publish(CHANNEL, message)
        except RedisError as err:
            log.warning("could not publish a %s change for server %s: %s", topic, guild_id, err)
            return
        self.published[topic] += 1

    async def start(self) -> None:
        """Start listening (without Redis: nothing to hear)."""
        if self.redis is None or self._task is not None:
            return
        self._task = asyncio.create_task(self._listen(), name="couplet-invalidation-bus")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.listening.clear()

    def _forget_everything(self) -> None:
        for forget in self._caches.values():
            forget(None)

    async def _listen(self) -> None:
        from redis.exceptions import RedisError

        assert self.redis is not None
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                # Whatever was published while nobody listened is unknown.
                self._forget_everything()
                self.listening.set()
                await self._apply(pubsub)
            except (RedisError, OSError) as err:
                if self.listening.is_set():
                    log.warning("lost the cache invalidation channel (%s); listening again", err)
                self.listening.clear()
            finally:
                await _close(pubsub)
            await asyncio.sleep(RECONNECT_DELAY)

    async def _apply(self, pubsub: PubSub) -> None:
        async for message in pubsub.listen():
            if message.get("type") != "message":
                continue
            try:
                data: dict[str, Any] = json.loads(message["data"])
                topic, guild = str(data["topic"]), data.get("guild")
                sender = data.get("from")
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring a malformed cache invalidation message")
                continue
            if sender == self.owner:
                continue  # this process invalidated its own cache already
            forget = self._caches.get(topic)
            if forget is None:
                continue
            forget(int(guild) if guild is not None else None)
            self.received[topic] += 1


async def _close(pubsub: PubSub) -> None:
    from redis.exceptions import RedisError

    try:
        await pubsub.aclose()
    except (RedisError, OSError):
        pass
