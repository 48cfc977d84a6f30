"""Fixtures for the scale-out tests: a real Redis and a real PostgreSQL (started by the
test setup), and a Redis client per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.support.postgres import db, migrated_copy, postgres_cluster, postgres_url
from tests.support.redis import redis_server, redis_url

__all__ = ["db", "migrated_copy", "postgres_cluster", "postgres_url", "redis_server", "redis_url"]


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the test's (emptied) Redis."""
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()
