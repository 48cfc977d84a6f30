"""Usage counters: reserve across several scopes at once, then settle or release.

Each scope (a member's requests this minute, their tokens today, their
generations in flight, the server's tokens today and this month) is a
counter: a committed total plus the holds of reservations not yet settled.
`reserve` checks every scope of a request and adds a hold to each, all or
nothing, so two requests racing for the last unit cannot both pass. Holds
lapse at `lapse_at`, so a process that dies mid-request frees what it held.

How a hold ends depends on the scope's kind:
- `window` (requests per minute): the hold *is* the request's entry in the
  sliding window; settling keeps it until it lapses, 60 s after admission.
- `flight` (generations in flight): settling drops it.
- `budget` (tokens): settling drops it and adds the real usage to the total.
Releasing (a request refused before it reached the backend) drops every hold.

Two implementations behave alike: `MemoryCounters` (one process) and
`bot.usage.redis_counters.RedisCounters` (shared through Redis, one Lua script).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

Kind = Literal["window", "flight", "budget"]


class CounterStoreError(Exception):
    """The counter store could not be reached or failed (Redis down)."""


@dataclass(frozen=True)
class Hold:
    """One scope of a reservation.

    `key` names the counter; `limit` 0 means no limit (the hold is still
    counted); `lapse_at` is when the hold ends if never settled (for a window:
    when the entry leaves the window); `expires_at` is when the whole counter
    may be forgotten (the end of its calendar window).
    """

    key: str
    kind: Kind
    limit: int
    amount: int
    lapse_at: float
    expires_at: float


@dataclass(frozen=True)
class Refusal:
    """Which hold did not fit, how much its counter held, and (for windows and
    flights) when the earliest hold lapses."""

    index: int
    level: int
    earliest_lapse: float | None = None


class Counters(Protocol):
    """The interface both counter stores offer."""

    async def reserve(self, rid: str, holds: Sequence[Hold], now: float) -> Refusal | None:
        """Hold every scope, or none: None when reserved, else the first that did not fit.

        Reserving again under an `rid` that still holds replaces its holds (a
        request run again after its process died).
        """
        ...

    async def settle(self, rid: str, holds: Sequence[Hold], actual: Mapping[str, int]) -> None:
        """End a reservation that reached the backend: budgets count `actual` (by key)."""
        ...

    async def release(self, rid: str, holds: Sequence[Hold]) -> None:
        """End a reservation that never reached the backend: nothing counts."""
        ...

    async def levels(self, keys: Sequence[str], now: float) -> dict[str, int]:
        """Each counter's total with its live holds."""
        ...

    async def restore(
        self,
        totals: Mapping[str, tuple[int, float]],
        windows: Mapping[str, Sequence[tuple[str, float]]],
        now: float,
    ) -> None:
        """Rebuild from the ledger without lowering anything.

        `totals`: budget key → (committed tokens, expires_at); a counter below it
        is raised to it. `windows`: window key → (entry id, lapse_at) of recent
        requests; added only to a window that holds nothing (a counter store
        that kept its data has them under their reservation ids already).
        """
        ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class _Counter:
    committed: int = 0
    expires_at: float = 0.0
    # reservation id → (amount, lapse_at); None while nothing is held. A budget
    # counter lives until its day or month ends, one per member and server, and
    # holds nothing between requests: without an empty dict each (64 bytes or more).
    holds: dict[str, tuple[int, float]] | None = None

    def hold(self, rid: str, amount: int, lapse_at: float) -> None:
        if self.holds is None:
            self.holds = {}
        self.holds[rid] = (amount, lapse_at)

    def held(self, rid: str) -> int:
        """What the reservation `rid` holds here (0 if nothing)."""
        return self.holds.get(rid, (0, 0.0))[0] if self.holds else 0

    def drop(self, rid: str) -> None:
        if self.holds is not None:
            self.holds.pop(rid, None)
            if not self.holds:
                self.holds = None

    def purge(self, now: float) -> None:
        if self.holds:
            for rid in [rid for rid, (_, lapse) in self.holds.items() if lapse <= now]:
                self.drop(rid)

    @property
    def level(self) -> int:
        if not self.holds:
            return self.committed
        return self.committed + sum(amount for amount, _ in self.holds.values())


class MemoryCounters:
    """Counters in this process. Atomic because nothing here awaits."""

    # Forget counters whose window ended, every this many reservations.
    SWEEP_EVERY = 1000

    def __init__(self) -> None:
        self._counters: dict[str, _Counter] = {}
        self._since_sweep = 0

    def _get(self, key: str) -> _Counter:
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = _Counter()
        return counter

    async def reserve(self, rid: str, holds: Sequence[Hold], now: float) -> Refusal | None:
        self._sweep(now)
        for index, hold in enumerate(holds):
            counter = self._get(hold.key)
            counter.purge(now)
            # A reservation made again under its id replaces its earlier holds.
            level = counter.level - counter.held(rid)
            if hold.limit > 0 and level + hold.amount > hold.limit:
                others = (counter.holds or {}).items()
                lapses = [lapse for other, (_, lapse) in others if other != rid]
                return Refusal(index, level, min(lapses) if lapses else None)
        for hold in holds:
            counter = self._get(hold.key)
            counter.hold(rid, hold.amount, hold.lapse_at)
            counter.expires_at = max(counter.expires_at, hold.expires_at, hold.lapse_at)
        return None

    async def settle(self, rid: str, holds: Sequence[Hold], actual: Mapping[str, int]) -> None:
        for hold in holds:
            if hold.kind == "window":
                continue
            counter = self._get(hold.key)
            counter.drop(rid)
            if hold.kind == "budget":
                counter.committed += actual.get(hold.key, 0)
                counter.expires_at = max(counter.expires_at, hold.expires_at)
            self._forget_if_empty(hold.key, counter)

    async def release(self, rid: str, holds: Sequence[Hold]) -> None:
        for hold in holds:
            counter = self._counters.get(hold.key)
            if counter is not None:
                counter.drop(rid)
                self._forget_if_empty(hold.key, counter)

    def _forget_if_empty(self, key: str, counter: _Counter) -> None:
        """A counter with nothing committed or held counts as much as none (a member's
        in-flight counter between requests): not kept until the sweep."""
        if counter.committed == 0 and counter.holds is None:
            del self._counters[key]

    async def levels(self, keys: Sequence[str], now: float) -> dict[str, int]:
        found = {}
        for key in keys:
            counter = self._counters.get(key)
            if counter is None:
                found[key] = 0
                continue
            counter.purge(now)
            found[key] = counter.level
        return found

    async def restore(
        self,
        totals: Mapping[str, tuple[int, float]],
        windows: Mapping[str, Sequence[tuple[str, float]]],
        now: float,
    ) -> None:
        for key, (committed, expires_at) in totals.items():
            counter = self._get(key)
            counter.committed = max(counter.committed, committed)
            counter.expires_at = max(counter.expires_at, expires_at)
        for key, entries in windows.items():
            counter = self._get(key)
            counter.purge(now)
            if counter.holds:
                continue
            for entry_id, lapse_at in entries:
                if lapse_at > now:
                    counter.hold(entry_id, 1, lapse_at)
                    counter.expires_at = max(counter.expires_at, lapse_at)

    def _sweep(self, now: float) -> None:
        self._since_sweep += 1
        if self._since_sweep < self.SWEEP_EVERY:
            return
        self._since_sweep = 0
        for key in [k for k, c in self._counters.items() if c.expires_at <= now]:
            del self._counters[key]

    async def aclose(self) -> None:
        self._counters.clear()
