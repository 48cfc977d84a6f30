"""Dropping discord.py's rate-limit bucket of a once-per-server request, only when idle."""

from __future__ import annotations

import asyncio

from discord.http import HTTPClient, Route

from bot.discord_buckets import forget_idle_bucket


def rules_route(guild_id: int) -> Route:
    return Route("GET", "/guilds/{guild_id}/auto-moderation/rules", guild_id=guild_id)


async def test_an_idle_bucket_with_requests_left_is_dropped_others_are_kept() -> None:
    http = HTTPClient(asyncio.get_running_loop())
    idle, exhausted, busy, other = (rules_route(g) for g in (1, 2, 3, 4))
    for route in (idle, exhausted, busy, other):
        http.get_ratelimit(f"{route.key}:{route.major_parameters}")
    # As discord.py leaves them after an answer with X-RateLimit-Remaining 0, and with
    # a request still in flight.
    waiting = http._buckets[f"{exhausted.key}:{exhausted.major_parameters}"]
    waiting.remaining, waiting.expires = 0, asyncio.get_running_loop().time() + 60
    http._buckets[f"{busy.key}:{busy.major_parameters}"].outgoing = 1

    assert forget_idle_bucket(http, idle)
    assert not forget_idle_bucket(http, exhausted)
    assert not forget_idle_bucket(http, busy)
    assert not forget_idle_bucket(http, rules_route(5))  # never called: nothing to drop
    assert set(http._buckets) == {f"{r.key}:{r.major_parameters}" for r in (exhausted, busy, other)}


async def test_the_bucket_filed_under_discords_hash_is_the_one_dropped() -> None:
    """Once Discord named the route's bucket (X-RateLimit-Bucket), discord.py files it
    under that hash: that key is dropped, another server's is kept."""
    http = HTTPClient(asyncio.get_running_loop())
    route = rules_route(1)
    http._bucket_hashes[route.key] = "abc123"
    http.get_ratelimit("abc123:1")
    http.get_ratelimit("abc123:2")
    assert forget_idle_bucket(http, route)
    assert set(http._buckets) == {"abc123:2"}


async def test_both_keys_of_the_first_call_are_dropped() -> None:
    """The first call of a route files its bucket under the route's key and, once
    Discord names it, under the hash too: neither is left."""
    http = HTTPClient(asyncio.get_running_loop())
    route = rules_route(1)
    bucket = http.get_ratelimit(f"{route.key}:1")
    http._bucket_hashes[route.key] = "abc123"
    http._buckets["abc123:1"] = bucket
    assert forget_idle_bucket(http, route)
    assert http._buckets == {}
