"""Fixtures for the usage tests: counters in process and on a real Redis, a migrated
database, and a clock the tests move."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.storage import Database
from bot.storage.usage import LedgerStore
from bot.usage import LedgerWriter, LimitStore, UsageService
from bot.usage.counters import Counters, MemoryCounters
from bot.usage.redis_counters import RedisCounters
from tests.support.postgres import (
    db,
    migrated_copy,
    postgres_cluster,
    postgres_url,
)
from tests.support.redis import redis_server, redis_url

__all__ = ["db", "postgres_cluster", "postgres_url", "redis_server", "redis_url"]


class FakeClock:
    """Seconds since the epoch, moved by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, at: datetime) -> None:
        self.now = at.timestamp()


@pytest.fixture
def clock() -> FakeClock:
    """Noon UTC on 15 March 2027 (a Monday in the middle of a month)."""
    return FakeClock(datetime(2027, 3, 15, 12, 0, tzinfo=UTC))


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[Counters]:
    """The counter store, in process and on a real Redis."""
    store: Counters
    if request.param == "memory":
        store = MemoryCounters()
    else:
        store = RedisCounters.from_url(request.getfixturevalue("redis_url"))
    try:
        yield store
    finally:
        await store.aclose()


@pytest.fixture
async def sqlite_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated SQLite database of its own."""
    database = Database(migrated_copy(request, "sqlite", tmp_path / "couplet.db"))
    try:
        yield database
    finally:
        await database.dispose()


def make_service(
    db: Database, counters: Counters, clock: FakeClock, **kwargs: object
) -> UsageService:
    """A usage service on `db` and `counters`, with the test's clock."""
    return UsageService(
        LimitStore(db),
        counters,
        LedgerWriter(LedgerStore(db)),
        clock=clock,
        **kwargs,  # type: ignore[arg-type]
    )
