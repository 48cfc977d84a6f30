"""Usage: the ledger of every generation sent to the backend, per-member and
per-server limits with reservations (in this process, or shared through Redis),
and the fair queue to each backend. No Discord here.

`build_usage(settings, db)` makes the `UsageService` the bot owns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.storage.usage import LedgerStore
from bot.usage.counters import Counters, MemoryCounters
from bot.usage.errors import LimitReached, QueueExpired, QueueFull, QueueUnavailable
from bot.usage.ledger import LedgerEntry, LedgerSpool, LedgerWriter
from bot.usage.limits import LIMITS, LimitConfig, LimitStore
from bot.usage.queue import BackendQueue, FairQueue
from bot.usage.service import Cost, Meter, Subject, UsageService, estimate_tokens
from bot.usage.windows import Clock, system_clock

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bot.settings import Settings
    from bot.storage.database import Database


def build_usage(
    settings: Settings, db: Database, *, clock: Clock = system_clock, redis: Redis | None = None
) -> UsageService:
    """The usage service for these settings.

    With Redis (the bot's shared client as `redis`, else one of its own from
    REDIS_URL) the counters, the ledger's spool and the queues to the backends
    are shared by every process; without, they live in this process.
    """
    owned = redis is None and settings.redis_url is not None
    if owned:
        from redis.asyncio import Redis

        assert settings.redis_url is not None
        redis = Redis.from_url(settings.redis_url.get_secret_value())
    counters: Counters
    spool = None
    if redis is not None:
        from bot.usage.redis_counters import RedisCounters

        counters = RedisCounters(redis, close=owned)
        spool = LedgerSpool(redis)
    else:
        counters = MemoryCounters()
    service = UsageService(
        LimitStore(db),
        counters,
        LedgerWriter(LedgerStore(db), spool),
        clock=clock,
        concurrency=settings.completions_concurrency,
        queue_size=settings.completions_queue_size,
    )
    if redis is not None:
        from bot.usage.redis_queue import RedisFairQueue

        shared = redis

        def make_queue(backend_key: str, limit: int, size: int) -> BackendQueue:
            return RedisFairQueue(shared, backend_key, limit, size, clock=clock)

        service.make_queue = make_queue
    return service


__all__ = [
    "LIMITS",
    "BackendQueue",
    "Cost",
    "Counters",
    "FairQueue",
    "LedgerEntry",
    "LedgerSpool",
    "LedgerWriter",
    "LimitConfig",
    "LimitReached",
    "LimitStore",
    "MemoryCounters",
    "Meter",
    "QueueExpired",
    "QueueFull",
    "QueueUnavailable",
    "Subject",
    "UsageService",
    "build_usage",
    "estimate_tokens",
]
