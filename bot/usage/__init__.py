"""Usage: the ledger of every generation sent to the backend, per-member and
per-server limits with reservations (in this process, or shared through Redis),
and the fair queue to each backend. No Discord here.

`build_usage(settings, db)` makes the `UsageService` the bot owns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.storage.usage import LedgerStore
from bot.usage.counters import Counters, MemoryCounters
from bot.usage.errors import LimitReached, QueueExpired, QueueFull
from bot.usage.ledger import LedgerEntry, LedgerWriter
from bot.usage.limits import LIMITS, LimitConfig, LimitStore
from bot.usage.queue import BackendQueue, FairQueue
from bot.usage.service import Cost, Meter, Subject, UsageService, estimate_tokens
from bot.usage.windows import Clock, system_clock

if TYPE_CHECKING:
    from bot.settings import Settings
    from bot.storage.database import Database


def build_usage(settings: Settings, db: Database, *, clock: Clock = system_clock) -> UsageService:
    """The usage service for these settings: counters in Redis when REDIS_URL is set."""
    counters: Counters
    if settings.redis_url is not None:
        from bot.usage.redis_counters import RedisCounters

        counters = RedisCounters.from_url(settings.redis_url.get_secret_value())
    else:
        counters = MemoryCounters()
    return UsageService(
        LimitStore(db),
        counters,
        LedgerWriter(LedgerStore(db)),
        clock=clock,
        concurrency=settings.completions_concurrency,
        queue_size=settings.completions_queue_size,
    )


__all__ = [
    "LIMITS",
    "BackendQueue",
    "Cost",
    "Counters",
    "FairQueue",
    "LedgerEntry",
    "LedgerWriter",
    "LimitConfig",
    "LimitReached",
    "LimitStore",
    "MemoryCounters",
    "Meter",
    "QueueExpired",
    "QueueFull",
    "Subject",
    "UsageService",
    "build_usage",
    "estimate_tokens",
]
