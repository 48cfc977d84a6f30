"""The usage service on a real database, with counters in process and on a real Redis:
limits and their windows on a controlled clock, role overrides, refusals, settling,
the ledger, and a restart that keeps the counts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.errors import BackendError, ParameterError
from bot.storage import Database
from bot.usage import Cost, LimitReached, QueueFull, Subject, UsageService
from bot.usage.counters import Counters, MemoryCounters
from bot.usage.redis_counters import RedisCounters
from tests.support.discord_env import wait_until
from tests.usage.conftest import FakeClock, make_service

ADMIN = 900
GUILD = 1
ALICE = Subject(user_id=10, guild_id=GUILD, channel_id=5, user_name="alice")
SMALL = Cost(prompt_tokens=10, max_tokens=40)  # reserves 50


async def send(
    usage: UsageService,
    subject: Subject = ALICE,
    cost: Cost = SMALL,
    used: tuple[int, int] = (8, 30),
    **kwargs: object,
) -> None:
    """One request that reaches the backend and uses `used` (prompt, completion) tokens."""
    async with usage.metered(subject, cost, command="complete", backend="test", **kwargs) as meter:  # type: ignore[arg-type]
        meter.report(prompt_tokens=used[0], completion_tokens=used[1], model="m")


async def refusal(
    usage: UsageService, subject: Subject = ALICE, cost: Cost = SMALL
) -> LimitReached:
    with pytest.raises(LimitReached) as caught:
        await send(usage, subject, cost)
    return caught.value


async def test_requests_per_minute_slides(
    sqlite_db: Database, counters: Counters, clock: FakeClock
) -> None:
    """3 a minute: the 4th is refused naming the limit and when the oldest leaves the
    minute; once it has, one more passes (not three: the window slides)."""
    usage = make_service(sqlite_db, counters, clock)
    await usage.limits.set(GUILD, "requests_per_minute", 3, ADMIN)
    first = clock()
    for _ in range(3):
        await send(usage)
        clock.advance(10)
    refused = await refusal(usage)
    assert refused.limit == "requests_per_minute"
    assert refused.resets_at == first + 60
    assert (
        "requests_per_minute" in refused.message and f"<t:{int(first) + 60}:R>" in refused.message
    )
    clock.set(datetime.fromtimestamp(first + 60, UTC))
    await send(usage)
    assert (await refusal(usage)).limit == "requests_per_minute"


async def test_tokens_per_day_rolls_over_at_midnight_utc(
    sqlite_db: Database, counters: Counters, clock: FakeClock
) -> None:
    """A member's daily tokens start again at 00:00 UTC, not 24 hours after the first use."""
    usage = make_service(sqlite_db, counters, clock)
    await usage.limits.set(GUILD, "tokens_per_day", 100, ADMIN)
    clock.set(datetime(2027, 3, 15, 23, 50, tzinfo=UTC))
    await send(usage, used=(20, 40))  # 60 used, 40 left; the next reserves 50
    refused = await refusal(usage)
    assert refused.limit == "tokens_per_day"
    midnight = datetime(2027, 3, 16, tzinfo=UTC).timestamp()
    assert refused.resets_at == midnight
    assert "40 of your 100 tokens_per_day" in refused.message
    clock.set(datetime(2027, 3, 16, 0, 0, 1, tzinfo=UTC))
    await send(usage)


async def test_server_budget_per_month_spans_days_and_rolls_over(
    sqlite_db: Database, counters: Counters, clock: FakeClock
) -> None:
    """The server's monthly tokens add up over days and members and free on the 1st (UTC)."""
    usage = make_service(sqlite_db, counters, clock)
    await usage.limits.set(GUILD, "server_tokens_per_month", 120, ADMIN)
    clock.set(datetime(2027, 3, 30, 9, tzinfo=UTC))
    await send(usage, used=(10, 40))
    clock.set(datetime(2027, 3, 31, 9, tzinfo=UTC))
    await send(usage, Subject(user_id=11, guild_id=GUILD), used=(10, 40))
    refused = await refusal(usage, Subject(user_id=12, guild_id=GUILD))
    assert refused.limit == "server_tokens_per_month"
    assert refused.resets_at == datetime(2027, 4, 1, tzinfo=UTC).timestamp()
    clock.set(datetime(2027, 4, 1, 0, 0, 1, tzinfo=UTC))
    await send(usage, Subject(user_id=12, guild_id=GUILD))


async def test_fifty_at_once_through_the_service(
    sqlite_db: Database, counters: Counters, clock: FakeClock
) -> None:
    """50 members at once against a server budget of 10 requests' worth: exactly 10 pass,
    and the ledger has exactly their 10 entries."""
    usage = make_service(sqlite_db, counters, clock, concurrency=0)
    await usage.limits.set(GUILD, "server_tokens_per_day", 10 * SMALL.tokens, ADMIN)
    gate = asyncio.Event()

    async def one(user: int) -> bool:
        try:
            async with usage.metered(
                Subject(user_id=user, guild_id=GUILD), SMALL, command="complete", backend="t"
            ) as meter:
                await gate.wait()  # every reservation is made before any settles
                meter.report(prompt_tokens=10, completion_tokens=40)
            return True
        except LimitReached:
            return False

    tasks = [asyncio.create_task(one(user)) for user in range(100, 150)]
    await wait_until(lambda: sum(t.done() for t in tasks) == 40, "40 refusals")
    gate.set()
    assert sum(await asyncio.gather(*tasks)) == 10
    await usage.ledger.flush()
    assert (await usage.store.totals(GUILD, clock_day(clock))).requests == 10


def clock_day(clock: FakeClock):  # type: ignore[no-untyped-def]
    return datetime.fromtimestamp(clock(), UTC).date()


async def test_role_overrides_most_generous_wins(
    sqlite_db: Database, counters: Counters, clock: FakeClock
) -> None:
    """A role's override replaces the server's value; with two roles the more generous
    applies, and 0 (no limit) is the most generous of all."""
    usage = make_service(sqlite_db, counters, clock)
    await usage.limits.set(GUILD, "requests_per_minute", 1, ADMIN)
    await usage.limits.set_role(GUILD, 500, "requests_per_minute", 2, ADMIN)
    await usage.limits.set_role(GUILD, 501, "requests_per_minute", 3, ADMIN)
    await usage.limits.set_role(GUILD, 502, "requests_per_minute", 0, ADMIN)
    plain = Subject(user_id=20, guild_id=GUILD)
    helper = Subject(user_id=21, guild_id=GUILD, role_ids=(500,))
    both = Subject(user_id=22, guild_id=GUILD, role_ids=(500, 501))
    unlimited = Subject(user_id=23, guild_id=GUILD, role_ids=(501, 502))
    for subject, allowed in ((plain, 1), (helper, 2), (both, 3)):
        for _ in range(allowed):
            await send(usage, subject)
        assert (await refusal(usage, subject)).limit == "requests_per_minute"
    for _ in range(10):
        await send(usage, unlimited)
    config = await usage.limits.get(GUILD)
    [rpm] = [e for e in config.for_member((500, 501)) if e.name == "requests_per_minute"]
    assert (rpm.value, rpm.source, rpm.role_id) == (3, "role", 501)


async def test_roles_cannot_change_a_server_budget(sqlite_db: Database, clock: FakeClock) -> None:
    """A server-wide budget is refused as a role override, with a sentence naming it."""
    usage = make_service(sqlite_db, MemoryCounters(), clock)
    with pytest.raises(ParameterError) as caught:
        await usage.limits.set_role(GUILD, 500, "server_tokens_per_day", 5, ADMIN)
    assert "server_tokens_per_day is the whole server's budget" in caught.value.message
    with pytest.raises(ParameterError):
        await usage.limits.set(GUILD, "tokens_per_week", 5, ADMIN)
    with pytest.raises(ParameterError):
        await usage.limits.set(GUILD, "tokens_per_day", -1, ADMIN)


async def test_managers_are_exempt_only_when_the_server_says_so(
    sqlite_db: Database, clock: FakeClock
) -> None:
    """A member with Manage Server is limited like anyone unless exempt; exempt lifts the
    member limits but not the server's budget."""
    usage = make_service(sqlite_db, MemoryCounters(), clock)
    await usage.limits.set(GUILD, "requests_per_minute", 1, ADMIN)
    await usage.limits.set(GUILD, "server_tokens_per_day", 3 * SMALL.tokens, ADMIN)
    manager = Subject(user_id=30, guild_id=GUILD, manages_server=True)
    await send(usage, manager)
    assert (await refusal(usage, manager)).limit == "requests_per_minute"
    await send(usage, manager, exempt=True)
    await send(usage, manager, exempt=True)
    with pytest.raises(LimitReached) as caught:
        await send(usage, manager, exempt=True)
    assert caught.value.limit == "server_tokens_per_day"
    member = Subject(user_id=31, guild_id=GUILD)  # exempt asks for Manage Server too
    clock.advance(86400)
    await send(usage, member, exempt=True)
    assert (await refusal(usage, member)).limit == "requests_per_minute"


async def test_in_flight_refuses_a_second_generation(sqlite_db: Database, clock: FakeClock) -> None:
    """in_flight defaults to 1: a second request while one runs is refused, not queued."""
    usage = make_service(sqlite_db, MemoryCounters(), clock)
    running = asyncio.Event()
    finish = asyncio.Event()

    async def long_one() -> None:
        async with usage.metered(ALICE, SMALL, command="complete", backend="t") as meter:
            running.set()
            await finish.wait()
            meter.report(prompt_tokens=1, completion_tokens=1)

    task = asyncio.create_task(long_one())
    await running.wait()
    refused = await refusal(usage)
    assert refused.limit == "in_flight" and "in_flight 1" in refused.message
    finish.set()
    await task
    await send(usage)


async def test_a_request_bigger_than_the_limit_says_so(
    sqlite_db: Database, clock: FakeClock
) -> None:
    """A request whose most possible use exceeds the whole limit is told to ask for less."""
    usage = make_service(sqlite_db, MemoryCounters(), clock)
    await usage.limits.set(GUILD, "tokens_per_day", 30, ADMIN)
    refused = await refusal(usage, cost=Cost(prompt_tokens=10, max_tokens=16, n=2))
    assert refused.message == (
        "tokens_per_day is 30 tokens, and this request may use up to 42: ask for fewer "
        "max_tokens, n or best_of."
    )


async def test_failures_refund_tokens_and_refusals_before_the_backend_refund_everything(
    sqlite_db: Database, counters: Counters, clock: FakeClock
) -> None:
    """A backend failure gives back its tokens but counts as a request (and is in the
    ledger); a request the client refused before sending leaves no trace."""
    usage = make_service(sqlite_db, counters, clock)
    await usage.limits.set(GUILD, "requests_per_minute", 5, ADMIN)
    with pytest.raises(BackendError):
        async with usage.metered(ALICE, SMALL, command="complete", backend="t") as meter:
            meter.report(prompt_tokens=5, completion_tokens=5)
            raise BackendError("the backend fell over")
    with pytest.raises(ParameterError):
        async with usage.metered(ALICE, SMALL, command="complete", backend="t"):
            raise ParameterError("logprobs", 9, "0 to 5")
    mine = await usage.member_usage(ALICE)
    levels = {s.limit.name: s.used for s in mine.limits}
    assert levels["requests_per_minute"] == 1
    assert levels["tokens_per_day"] == 0 and levels["in_flight"] == 0
    assert mine.today.requests == 1 and mine.today.tokens == 0


async def test_a_full_queue_gives_everything_back(sqlite_db: Database, clock: FakeClock) -> None:
    """A request the queue refuses counts in no limit and makes no ledger entry."""
    usage = make_service(sqlite_db, MemoryCounters(), clock, concurrency=1, queue_size=1)
    await usage.limits.set(GUILD, "in_flight", 0, ADMIN)
    started, finish = asyncio.Event(), asyncio.Event()

    async def occupy(user: int) -> None:
        async with usage.metered(
            Subject(user_id=user, guild_id=GUILD), SMALL, command="c", backend="t"
        ) as meter:
            started.set()
            await finish.wait()
            meter.report(prompt_tokens=1, completion_tokens=1)

    runner = asyncio.create_task(occupy(40))
    await started.wait()
    waiter = asyncio.create_task(occupy(41))
    await wait_until(lambda: usage.queue("", "t").waiting == 1, "one waiting")
    with pytest.raises(QueueFull):
        await send(usage, Subject(user_id=42, guild_id=GUILD))
    finish.set()
    await asyncio.gather(runner, waiter)
    late = await usage.member_usage(Subject(user_id=42, guild_id=GUILD))
    assert late.today.requests == 0
    assert {s.limit.name: s.used for s in late.limits}["requests_per_minute"] == 0


async def test_ledger_sums_equal_the_reported_usage(sqlite_db: Database, clock: FakeClock) -> None:
    """Every request is one ledger entry with the fields it was sent with; the sums per
    member, per day, per model equal what was reported."""
    usage = make_service(sqlite_db, MemoryCounters(), clock)
    reported = [(12, 30), (7, 16), (40, 2)]
    for prompt, completion in reported:
        await send(usage, cost=Cost(prompt_tokens=50, max_tokens=40, n=2, best_of=3, requests=3),
                   used=(prompt, completion))  # fmt: skip
    report = await usage.server_report(GUILD)
    assert report.total.requests == 3
    assert report.total.prompt_tokens == sum(p for p, _ in reported)
    assert report.total.completion_tokens == sum(c for _, c in reported)
    assert report.members == [(ALICE.user_id, report.total)]
    assert report.models == [("m", report.total)]
    [row] = await usage.member_days(GUILD)
    assert (row.user_id, row.user_name, row.totals) == (ALICE.user_id, "alice", report.total)


async def test_a_restart_keeps_the_counts(
    sqlite_db: Database, clock: FakeClock, redis_url: str
) -> None:
    """Counters rebuilt from the ledger: a fresh process (memory), and a Redis that lost
    its data, refuse exactly what the old one would have."""
    first = make_service(sqlite_db, MemoryCounters(), clock)
    await first.limits.set(GUILD, "tokens_per_day", 100, ADMIN)
    await first.limits.set(GUILD, "requests_per_minute", 3, ADMIN)
    await send(first, used=(20, 40))  # 60 tokens, 1 request this minute
    await send(first, Subject(user_id=11, guild_id=GUILD), used=(1, 1))
    await first.aclose()  # a clean stop writes the ledger

    for counters in (MemoryCounters(), RedisCounters.from_url(redis_url)):
        again = make_service(sqlite_db, counters, clock)
        await again.rebuild()
        levels = {s.limit.name: s.used for s in (await again.member_usage(ALICE)).limits}
        assert levels["tokens_per_day"] == 60
        assert levels["requests_per_minute"] == 1
        assert (await refusal(again)).limit == "tokens_per_day"
        await again.aclose()


async def test_queue_concurrency_by_backend(sqlite_db: Database, clock: FakeClock) -> None:
    """Unset, the bundled model's kind (llama-cpp-python) gets one slot and others eight;
    COMPLETIONS_CONCURRENCY decides when set; each backend has its own queue."""
    usage = make_service(sqlite_db, MemoryCounters(), clock)
    assert usage.queue("http://local/v1", "llama-cpp-python").concurrency == 1  # type: ignore[attr-defined]
    assert usage.queue("http://vllm/v1", "vllm").concurrency == 8  # type: ignore[attr-defined]
    assert usage.queue("http://local/v1", "ignored") is usage.queue("http://local/v1", "x")
    configured = make_service(sqlite_db, MemoryCounters(), clock, concurrency=3)
    assert configured.queue("http://local/v1", "llama-cpp-python").concurrency == 3  # type: ignore[attr-defined]


def test_build_usage_keeps_counters_in_redis_when_configured(redis_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """REDIS_URL set: the counters are Redis's; unset: the process's."""
    from bot.settings import Settings
    from bot.usage import build_usage

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    shared = build_usage(Settings(_env_file=None, redis_url=redis_url), db)  # type: ignore[call-arg]
    local = build_usage(Settings(_env_file=None), db)  # type: ignore[call-arg]
    assert isinstance(shared.counters, RedisCounters)
    assert isinstance(local.counters, MemoryCounters)


async def test_an_unreachable_redis_refuses_with_a_sentence(
    sqlite_db: Database, clock: FakeClock
) -> None:
    """With Redis down nothing is sent: the member is told limits can't be checked."""
    from bot.usage.service import CountersUnavailable
    from tests.support.redis import free_port

    down = RedisCounters.from_url(f"redis://127.0.0.1:{free_port()}/0")
    usage = make_service(sqlite_db, down, clock)
    with pytest.raises(CountersUnavailable) as caught:
        await send(usage)
    assert caught.value.message.startswith("Usage limits cannot be checked right now")
    await down.aclose()
