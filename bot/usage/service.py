"""Usage around one generation: check and reserve, wait for a turn, send, settle, record.

    async with usage.metered(subject, cost, command="complete", backend=...) as meter:
        result = await client.complete(request)
        meter.report(result.usage..., model=result.model)

`metered` reserves the request's cost in every scope at once (or raises
`LimitReached` naming the limit and when it resets), waits for a turn in the
backend's fair queue (`QueueFull`, `QueueExpired`), and when the block ends
settles the reservation with the real usage (a failure gives back its tokens;
a request that never reached the backend gives back everything) and records
one ledger entry. The ledger is the source of truth: `rebuild()` restores the
counters from it on start.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta

from bot.errors import CoupletError, ParameterError, UnsupportedParameter
from bot.i18n import Msg, _, ngettext
from bot.storage.usage import LedgerStore, MemberDay, Totals
from bot.usage.counters import Counters, CounterStoreError, Hold, Refusal
from bot.usage.errors import LimitReached, when
from bot.usage.ledger import LedgerEntry, LedgerWriter
from bot.usage.limits import Effective, LimitStore
from bot.usage.queue import BackendQueue, FairQueue, PositionCallback
from bot.usage.windows import (
    MINUTE,
    Clock,
    day_end,
    day_of,
    month_end,
    month_start,
    system_clock,
    utc,
)

log = logging.getLogger(__name__)

KEY_PREFIX = "couplet:usage"
# How long a reservation holds if it is never settled (a process died): longer
# than Discord's 15 minutes for an answer plus a slow backend.
HOLD_TTL = 30 * 60.0
# Budget counters outlive their window a little (clocks of several processes differ).
GRACE = 3600.0
# Generations at once on a backend when COMPLETIONS_CONCURRENCY is not set.
DEFAULT_CONCURRENCY = 8
SERIAL_BACKENDS = ("llama-cpp-python",)  # one request at a time (the bundled model)
# How far back /usage server's CSV goes.
CSV_DAYS = 90


def default_concurrency(backend: str) -> int:
    """1 for servers that run one request at a time, else DEFAULT_CONCURRENCY."""
    return 1 if backend in SERIAL_BACKENDS else DEFAULT_CONCURRENCY


@dataclass(frozen=True)
class Subject:
    """Who a request is charged to, and what decides their limits."""

    user_id: int
    guild_id: int | None = None
    channel_id: int | None = None
    user_name: str = ""
    role_ids: tuple[int, ...] = ()
    manages_server: bool = False
    story_id: int | None = None


@dataclass(frozen=True)
class Cost:
    """What a request may use, known before it is sent.

    `prompt_tokens` is per backend request (an upper bound when not counted:
    see `estimate_tokens`); emulated `n`/`best_of` send the prompt with each of
    their `requests`. The reservation is the most the request can use:
    prompt tokens × requests + max_tokens × max(n, best_of).
    """

    prompt_tokens: int
    max_tokens: int
    n: int = 1
    best_of: int | None = None
    requests: int = 1

    @property
    def tokens(self) -> int:
        return self.prompt_tokens * self.requests + self.max_tokens * max(self.n, self.best_of or 1)


def estimate_tokens(text: str) -> int:
    """An upper bound on a text's tokens without a tokenizer: its UTF-8 bytes plus a
    start token (byte-level tokenizers never make more tokens than bytes)."""
    return len(text.encode("utf-8")) + 1


@dataclass
class Meter:
    """What the backend used, filled in by the caller once it answered."""

    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    counted: bool = False
    requests: int | None = None
    waited: float = 0.0
    admitted: float = 0.0  # when the reservation was made (the ledger's time)
    started: float = 0.0  # when the turn came (latency is measured from here)

    def report(
        self,
        *,
        prompt_tokens: int,
        completion_tokens: int,
        model: str = "",
        counted: bool = False,
        requests: int | None = None,
    ) -> None:
        """Record the real usage (`counted`: not reported by the backend, counted by Couplet)."""
        self.prompt_tokens, self.completion_tokens = prompt_tokens, completion_tokens
        self.counted = counted
        if model:
            self.model = model
        if requests is not None:
            self.requests = requests


@dataclass(frozen=True)
class LimitStatus:
    """One limit as it stands for a member now."""

    limit: Effective
    used: int
    resets_at: float | None

    @property
    def left(self) -> int | None:
        return None if self.limit.unlimited else max(0, self.limit.value - self.used)


@dataclass(frozen=True)
class MemberUsage:
    """A member's use today and this month (UTC) and what their limits leave."""

    today: Totals
    month: Totals
    limits: list[LimitStatus]


@dataclass(frozen=True)
class ServerReport:
    """A server's use this month: by day, by model, by member."""

    month: date
    total: Totals
    days: list[tuple[date, Totals]]
    models: list[tuple[str, Totals]]
    members: list[tuple[int, Totals]]


class CountersUnavailable(CoupletError):
    """The counter store (Redis) could not be reached, so no limit can be checked."""


@dataclass
class _Scopes:
    """The keys of the five scopes of one member on one server at one moment."""

    rpm: str
    flight: str
    member_day: str
    server_day: str | None
    server_month: str | None
    day: date

    def key(self, limit: str) -> str | None:
        return {
            "requests_per_minute": self.rpm,
            "in_flight": self.flight,
            "tokens_per_day": self.member_day,
            "server_tokens_per_day": self.server_day,
            "server_tokens_per_month": self.server_month,
        }[limit]


def scopes(guild_id: int | None, user_id: int, at: float) -> _Scopes:
    """The counter keys a request at `at` touches (DMs have no server scopes).

    Every key carries the server id in braces, so a Redis cluster keeps a
    request's keys in one slot.
    """
    g = f"{KEY_PREFIX}:{{g{guild_id or 0}}}"
    day = day_of(at)
    return _Scopes(
        rpm=f"{g}:m:{user_id}:rpm",
        flight=f"{g}:m:{user_id}:flight",
        member_day=f"{g}:m:{user_id}:day:{day.isoformat()}",
        server_day=None if guild_id is None else f"{g}:s:day:{day.isoformat()}",
        server_month=None if guild_id is None else f"{g}:s:month:{day.strftime('%Y-%m')}",
        day=day,
    )


class UsageService:
    """Limits, the ledger and the queues to the backends, for the generation path."""

    def __init__(
        self,
        limits: LimitStore,
        counters: Counters,
        ledger: LedgerWriter,
        *,
        clock: Clock = system_clock,
        concurrency: int | None = None,
        queue_size: int = 100,
        hold_ttl: float = HOLD_TTL,
    ) -> None:
        self.limits = limits
        self.counters = counters
        self.ledger = ledger
        self.store: LedgerStore = ledger.store
        self.clock = clock
        self.concurrency = concurrency
        self.queue_size = queue_size
        self.hold_ttl = hold_ttl
        self._queues: dict[str, BackendQueue] = {}
        # Makes the queue to a backend (limit, size); default: in this process.
        self.make_queue: Callable[[str, int, int], BackendQueue] = self._local_queue
        # Told of every ledger entry as it is recorded (metrics).
        self.observers: list[Callable[[LedgerEntry], None]] = []

    # -- the queues ---------------------------------------------------------------

    def queue(self, backend_key: str, backend: str, servers: int = 1) -> BackendQueue:
        """The fair queue to one backend (made on first use).

        The concurrency limit is per model server: a pool of `servers` runs
        that many times as many generations at once.
        """
        queue = self._queues.get(backend_key)
        if queue is None:
            limit = self.concurrency
            if limit is None:
                limit = default_concurrency(backend)
            limit *= max(1, servers)
            queue = self._queues[backend_key] = self.make_queue(backend_key, limit, self.queue_size)
        return queue

    def _local_queue(self, backend_key: str, limit: int, size: int) -> BackendQueue:
        return FairQueue(limit, size, clock=self.clock)

    @property
    def running(self) -> int:
        """Generations running on the backends (as far as this process knows)."""
        return sum(queue.running for queue in self._queues.values())

    @property
    def waiting(self) -> int:
        """Requests waiting for a turn, over every backend (the queue depth)."""
        return sum(queue.waiting for queue in self._queues.values())

    # -- one request ------------------------------------------------------------------

    def holds(
        self, subject: Subject, limits: Sequence[Effective], cost: Cost, now: float
    ) -> list[tuple[Effective, Hold]]:
        """The holds a request reserves, each with the limit that caps it."""
        keys = scopes(subject.guild_id, subject.user_id, now)
        lapse = now + self.hold_ttl
        found = []
        for limit in limits:
            key = keys.key(limit.name)
            if key is None:
                continue
            if limit.name == "requests_per_minute":
                hold = Hold(key, "window", limit.value, 1, now + MINUTE, now + MINUTE)
            elif limit.name == "in_flight":
                hold = Hold(key, "flight", limit.value, 1, lapse, lapse)
            elif limit.name == "server_tokens_per_month":
                hold = Hold(key, "budget", limit.value, cost.tokens, lapse, month_end(now) + GRACE)
            else:
                hold = Hold(key, "budget", limit.value, cost.tokens, lapse, day_end(now) + GRACE)
            found.append((limit, hold))
        return found

    @asynccontextmanager
    async def metered(
        self,
        subject: Subject,
        cost: Cost,
        *,
        command: str,
        backend: str,
        backend_key: str = "",
        servers: int = 1,
        exempt: bool = False,
        deadline: float | None = None,
        on_position: PositionCallback | None = None,
        request_id: str | None = None,
    ) -> AsyncIterator[Meter]:
        """Reserve, wait for a turn, let the caller send, then settle and record.

        `request_id` names the reservation: the same request run again (after its
        process died) passes the same id, and its new reservation replaces the old.
        """
        config = await self.limits.get(subject.guild_id)
        limits = config.for_member(subject.role_ids, exempt=exempt and subject.manages_server)
        now = self.clock()
        held = self.holds(subject, limits, cost, now)
        holds = [hold for _, hold in held]
        rid = request_id or uuid.uuid4().hex
        try:
            refusal = await self.counters.reserve(rid, holds, now)
        except CounterStoreError as err:
            raise CountersUnavailable(
                _(
                    "Usage limits cannot be checked right now (their counter store is "
                    "unreachable), so nothing was sent; try again in a minute."
                )
            ) from err
        if refusal is not None:
            limit, hold = held[refusal.index]
            raise refused(limit, hold, refusal, cost)
        meter = Meter(requests=cost.requests)
        async with AsyncExitStack() as stack:
            try:
                meter.waited = await stack.enter_async_context(
                    self.queue(backend_key, backend, servers).slot(
                        subject.guild_id,
                        subject.user_id,
                        deadline=deadline,
                        on_position=on_position,
                    )
                )
            except BaseException:
                await self._end(self.counters.release(rid, holds))
                raise
            meter.admitted, meter.started = now, self.clock()
            try:
                yield meter
            except (ParameterError, UnsupportedParameter):
                # Refused by the client before any HTTP request: nothing was used.
                await self._end(self.counters.release(rid, holds))
                raise
            except BaseException as err:
                outcome = "cancelled" if isinstance(err, asyncio.CancelledError) else "error"
                meter.prompt_tokens = meter.completion_tokens = 0
                await self._finish(rid, held, subject, cost, meter, (command, backend, outcome))
                raise
            await self._finish(rid, held, subject, cost, meter, (command, backend, "ok"))

    async def _finish(
        self,
        rid: str,
        held: Sequence[tuple[Effective, Hold]],
        subject: Subject,
        cost: Cost,
        meter: Meter,
        what: tuple[str, str, str],
    ) -> None:
        """Settle with the real usage and record the ledger entry.

        `what`: the command, the backend and the outcome ("ok", "error", "cancelled").
        """
        command, backend, outcome = what
        used = meter.prompt_tokens + meter.completion_tokens
        actual = {hold.key: used for _, hold in held if hold.kind == "budget"}
        await self._end(self.counters.settle(rid, [hold for _, hold in held], actual))
        entry = LedgerEntry(
            at=meter.admitted,
            guild_id=subject.guild_id,
            channel_id=subject.channel_id,
            user_id=subject.user_id,
            user_name=subject.user_name,
            story_id=subject.story_id,
            command=command,
            backend=backend,
            model=meter.model,
            prompt_tokens=meter.prompt_tokens,
            completion_tokens=meter.completion_tokens,
            tokens_counted=meter.counted,
            n=cost.n,
            best_of=cost.best_of,
            requests=meter.requests if meter.requests is not None else cost.requests,
            outcome=outcome,
            latency_ms=max(0, round((self.clock() - meter.started) * 1000)),
            wait_ms=round(meter.waited * 1000),
        )
        await self.ledger.add(entry)
        for observe in self.observers:
            try:
                observe(entry)
            except Exception:
                log.exception("a usage observer failed")

    @staticmethod
    async def _end(operation: object) -> None:
        """Settle or release; a counter store that fails here is logged, not raised:
        the answer is ready, and the holds lapse on their own."""
        try:
            await operation  # type: ignore[misc]
        except Exception:
            log.warning("could not settle a usage reservation; its holds will lapse", exc_info=True)

    # -- start-up ------------------------------------------------------------------

    async def rebuild(self) -> None:
        """Restore the counters from the ledger (never lowering a shared counter)."""
        await self.ledger.flush()
        now = self.clock()
        today = day_of(now)
        totals: dict[str, tuple[int, float]] = {}
        for guild_id, user_id, tokens in await self.store.member_tokens(today):
            totals[scopes(guild_id, user_id, now).member_day] = (tokens, day_end(now) + GRACE)
        for guild_id, tokens in await self.store.server_tokens(today, today):
            key = scopes(guild_id, 0, now).server_day
            assert key is not None
            totals[key] = (tokens, day_end(now) + GRACE)
        for guild_id, tokens in await self.store.server_tokens(month_start(today), today):
            key = scopes(guild_id, 0, now).server_month
            assert key is not None
            totals[key] = (tokens, month_end(now) + GRACE)
        windows: dict[str, list[tuple[str, float]]] = {}
        for row_id, guild_id, user_id, at in await self.store.requests_since(utc(now - MINUTE)):
            key = scopes(guild_id, user_id, now).rpm
            windows.setdefault(key, []).append((f"ledger-{row_id}", at.timestamp() + MINUTE))
        await self.counters.restore(totals, windows, now)
        log.info(
            "usage counters rebuilt from the ledger: %d budgets, %d windows",
            len(totals),
            len(windows),
        )

    async def aclose(self) -> None:
        """Write what the ledger still holds, then close the counter store."""
        try:
            await self.ledger.flush()
        finally:
            await self.counters.aclose()

    # -- reading --------------------------------------------------------------------

    async def member_usage(self, subject: Subject, *, exempt: bool = False) -> MemberUsage:
        """A member's use today and this month, and what each limit leaves."""
        await self.ledger.flush()
        now = self.clock()
        keys = scopes(subject.guild_id, subject.user_id, now)
        today = await self.store.totals(subject.guild_id, keys.day, user_id=subject.user_id)
        month = await self.store.totals(
            subject.guild_id, month_start(keys.day), user_id=subject.user_id
        )
        config = await self.limits.get(subject.guild_id)
        limits = config.for_member(subject.role_ids, exempt=exempt and subject.manages_server)
        wanted = [(limit, keys.key(limit.name)) for limit in limits]
        levels = await self.counters.levels([k for _, k in wanted if k is not None], now)
        statuses = []
        for limit, key in wanted:
            if key is None:
                continue
            statuses.append(LimitStatus(limit, levels.get(key, 0), resets_at(limit.name, now)))
        return MemberUsage(today, month, statuses)

    async def server_report(self, guild_id: int) -> ServerReport:
        """A server's use this month (UTC)."""
        await self.ledger.flush()
        first = month_start(day_of(self.clock()))
        return ServerReport(
            month=first,
            total=await self.store.totals(guild_id, first),
            days=await self.store.by_day(guild_id, first),
            models=await self.store.by_model(guild_id, first),
            members=await self.store.by_member(guild_id, first),
        )

    async def member_days(self, guild_id: int, days: int = CSV_DAYS) -> list[MemberDay]:
        """One row per member per UTC day over the last `days` days (for the CSV)."""
        await self.ledger.flush()
        since = day_of(self.clock()) - timedelta(days=days - 1)
        return await self.store.member_days(guild_id, since)

    async def server_levels(self, guild_id: int) -> dict[str, int]:
        """Tokens the server used (with what is reserved) today and this month."""
        now = self.clock()
        keys = scopes(guild_id, 0, now)
        assert keys.server_day is not None and keys.server_month is not None
        levels = await self.counters.levels([keys.server_day, keys.server_month], now)
        return {
            "server_tokens_per_day": levels[keys.server_day],
            "server_tokens_per_month": levels[keys.server_month],
        }


def resets_at(limit: str, now: float) -> float | None:
    """When a calendar budget starts again (None for the sliding and in-flight limits)."""
    if limit in ("tokens_per_day", "server_tokens_per_day"):
        return day_end(now)
    if limit == "server_tokens_per_month":
        return month_end(now)
    return None


def refused(limit: Effective, hold: Hold, refusal: Refusal, cost: Cost) -> LimitReached:
    """The one sentence for a request a limit refused: which limit, and when it frees."""
    name, value = limit.name, limit.value
    message: Msg
    resets: float | None = None
    if hold.kind == "window":
        resets = refusal.earliest_lapse
        message = ngettext(
            "You reached requests_per_minute ({n} request a minute) on this server: "
            "try again {when}.",
            "You reached requests_per_minute ({n} requests a minute) on this server: "
            "try again {when}.",
            value,
            when=when(resets) if resets else "",
        )
    elif hold.kind == "flight":
        message = ngettext(
            "You already have {n} generation running here (in_flight {n}): wait until it "
            "finishes, then ask again.",
            "You already have {n} generations running here (in_flight {n}): wait until one "
            "finishes, then ask again.",
            value,
        )
    elif hold.amount > value:
        message = _(
            "{name} is {limit} tokens, and this request may use up to {cost}: ask for fewer "
            "max_tokens, n or best_of.",
            name=name,
            limit=value,
            cost=cost.tokens,
        )
    else:
        resets = hold.expires_at - GRACE
        values = {
            "left": max(0, value - refusal.level),
            "limit": value,
            "cost": cost.tokens,
            "when": when(resets),
        }
        if name == "tokens_per_day":
            message = _(
                "You have {left} of your {limit} tokens_per_day left and this request may use "
                "up to {cost}: the limit resets {when}.",
                **values,
            )
        elif name == "server_tokens_per_day":
            message = _(
                "This server has {left} of its {limit} server_tokens_per_day left and this "
                "request may use up to {cost}: the limit resets {when}.",
                **values,
            )
        else:
            message = _(
                "This server has {left} of its {limit} server_tokens_per_month left and this "
                "request may use up to {cost}: the limit resets {when}.",
                **values,
            )
    return LimitReached(message, limit=name, resets_at=resets)
