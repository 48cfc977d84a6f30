"""Reservations across scopes, on both counter stores: all or nothing, settle, release,
lapse, rebuild — and the same answers in process and on a real Redis."""

from __future__ import annotations

import asyncio
import uuid

from bot.usage.counters import Counters, Hold, MemoryCounters
from bot.usage.redis_counters import RedisCounters

NOW = 1_800_000_000.0


def window(key: str, limit: int, now: float = NOW) -> Hold:
    return Hold(key, "window", limit, 1, now + 60, now + 60)


def budget(key: str, limit: int, amount: int, now: float = NOW) -> Hold:
    return Hold(key, "budget", limit, amount, now + 1800, now + 86400)


def flight(key: str, limit: int, now: float = NOW) -> Hold:
    return Hold(key, "flight", limit, 1, now + 1800, now + 1800)


def rid() -> str:
    return uuid.uuid4().hex


async def test_fifty_at_once_against_a_budget_of_ten(counters: Counters) -> None:
    """50 simultaneous reservations against 10 requests and 1000 tokens (100 each): exactly 10."""
    holds = [window("t:rpm", 10), budget("t:day", 1000, 100)]
    answers = await asyncio.gather(*(counters.reserve(rid(), holds, NOW) for _ in range(50)))
    assert sum(answer is None for answer in answers) == 10
    levels = await counters.levels(["t:rpm", "t:day"], NOW)
    assert levels == {"t:rpm": 10, "t:day": 1000}


async def test_fifty_from_five_processes_share_one_redis_budget(redis_url: str) -> None:
    """Five separate Redis clients (as five bot processes) racing 50 requests: exactly 10 pass."""
    clients = [RedisCounters.from_url(redis_url) for _ in range(5)]
    try:
        holds = [budget("shared:day", 10, 1)]
        answers = await asyncio.gather(
            *(clients[i % 5].reserve(rid(), holds, NOW) for i in range(50))
        )
        assert sum(answer is None for answer in answers) == 10
    finally:
        for client in clients:
            await client.aclose()


async def test_all_or_nothing_across_scopes(counters: Counters) -> None:
    """A request refused by one scope holds nothing in the others."""
    assert await counters.reserve(rid(), [budget("s:day", 100, 90)], NOW) is None
    refusal = await counters.reserve(rid(), [window("m:rpm", 5), budget("s:day", 100, 20)], NOW)
    assert refusal is not None
    assert (refusal.index, refusal.level) == (1, 90)
    assert await counters.levels(["m:rpm", "s:day"], NOW) == {"m:rpm": 0, "s:day": 90}


async def test_settle_counts_real_usage_and_keeps_the_window_entry(counters: Counters) -> None:
    """Settling: the budget counts what was used (not what was reserved), the window entry
    stays for its minute, the in-flight hold goes."""
    r = rid()
    holds = [window("m:rpm", 5), flight("m:flight", 1), budget("m:day", 0, 500)]
    assert await counters.reserve(r, holds, NOW) is None
    assert await counters.levels(["m:day", "m:flight"], NOW) == {"m:day": 500, "m:flight": 1}
    await counters.settle(r, holds, {"m:day": 123})
    levels = await counters.levels(["m:rpm", "m:flight", "m:day"], NOW)
    assert levels == {"m:rpm": 1, "m:flight": 0, "m:day": 123}
    # A minute later the request has left the window; the tokens stay for the day.
    later = await counters.levels(["m:rpm", "m:day"], NOW + 61)
    assert later == {"m:rpm": 0, "m:day": 123}


async def test_release_gives_everything_back(counters: Counters) -> None:
    """A request that never reached the backend leaves no trace in any scope."""
    r = rid()
    holds = [window("m:rpm", 1), flight("m:flight", 1), budget("m:day", 1000, 400)]
    assert await counters.reserve(r, holds, NOW) is None
    assert await counters.reserve(rid(), holds, NOW) is not None
    await counters.release(r, holds)
    assert await counters.levels(["m:rpm", "m:flight", "m:day"], NOW) == {
        "m:rpm": 0,
        "m:flight": 0,
        "m:day": 0,
    }
    assert await counters.reserve(rid(), holds, NOW) is None


async def test_in_flight_is_refused_until_the_first_one_ends(counters: Counters) -> None:
    """in_flight 1: a second generation is refused while the first runs, allowed after."""
    first = rid()
    assert await counters.reserve(first, [flight("m:f", 1)], NOW) is None
    refusal = await counters.reserve(rid(), [flight("m:f", 1)], NOW)
    assert refusal is not None and refusal.level == 1
    await counters.settle(first, [flight("m:f", 1)], {})
    assert await counters.reserve(rid(), [flight("m:f", 1)], NOW) is None


async def test_sliding_window_says_when_a_slot_frees(counters: Counters) -> None:
    """The refusal names the moment the oldest request leaves the minute."""
    for offset in (0, 10, 20):
        assert await counters.reserve(rid(), [window("m:w", 3, NOW + offset)], NOW + offset) is None
    refusal = await counters.reserve(rid(), [window("m:w", 3, NOW + 30)], NOW + 30)
    assert refusal is not None and refusal.earliest_lapse == NOW + 60
    assert await counters.reserve(rid(), [window("m:w", 3, NOW + 60)], NOW + 60) is None


async def test_a_hold_never_settled_lapses(counters: Counters) -> None:
    """A process that died mid-request frees its holds once they lapse."""
    assert await counters.reserve(rid(), [flight("m:f", 1), budget("m:d", 100, 100)], NOW) is None
    assert await counters.reserve(rid(), [flight("m:f", 1)], NOW + 60) is not None
    after = NOW + 1801
    assert await counters.levels(["m:f", "m:d"], after) == {"m:f": 0, "m:d": 0}
    assert await counters.reserve(rid(), [flight("m:f", 1)], after) is None


async def test_restore_raises_but_never_lowers(counters: Counters) -> None:
    """Rebuilding from the ledger raises a counter below the ledger's sum, keeps a higher
    one, and refills a window only when it is empty."""
    assert await counters.reserve(rid(), [budget("high", 0, 10)], NOW) is None
    r = rid()
    await counters.reserve(r, [budget("high", 0, 10)], NOW)
    await counters.settle(r, [budget("high", 0, 10)], {"high": 900})
    await counters.restore(
        {"low": (300, NOW + 86400), "high": (200, NOW + 86400)},
        {"w": [("ledger-1", NOW + 30), ("ledger-2", NOW + 40), ("ledger-3", NOW - 5)]},
        NOW,
    )
    assert await counters.levels(["low", "high", "w"], NOW) == {"low": 300, "high": 910, "w": 2}
    await counters.restore({}, {"w": [("ledger-9", NOW + 50)]}, NOW)
    assert (await counters.levels(["w"], NOW))["w"] == 2


async def test_settled_counters_in_memory_keep_no_holds_table() -> None:
    """In memory, a counter that holds nothing between requests (a day or month budget,
    kept until its window ends, one per member and server) keeps no dict of holds, and
    one back at nothing is dropped; a second request counts on as before."""
    counters = MemoryCounters()
    holds = [flight("m:flight", 1), budget("m:day", 1000, 300)]
    for used, held in ((100, 300), (200, 100 + 300)):  # committed so far + the new hold
        r = rid()
        assert await counters.reserve(r, holds, NOW) is None
        assert await counters.levels(["m:day", "m:flight"], NOW) == {"m:day": held, "m:flight": 1}
        await counters.settle(r, holds, {"m:day": used})
        # The day's budget stays, without a dict; the in-flight counter, back at
        # nothing, is not kept at all.
        assert list(counters._counters) == ["m:day"]
        assert counters._counters["m:day"].holds is None
    assert await counters.levels(["m:day", "m:flight"], NOW) == {"m:day": 300, "m:flight": 0}
    # Released rather than settled: nothing of the request is left.
    r = rid()
    assert await counters.reserve(r, [flight("m:other", 1)], NOW) is None
    await counters.release(r, [flight("m:other", 1)])
    assert list(counters._counters) == ["m:day"]
