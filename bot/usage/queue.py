"""The fair queue to one backend: a concurrency limit, round robin across servers,
then across the members of each server.

A generation takes one slot for as long as it runs, whatever number of HTTP
requests it needs (emulated `n`/`best_of` send several, at most
`EMULATION_CONCURRENCY` at once, all within the one slot): members wait for
generations, so positions count generations. When a slot frees, the next
server in the rotation is served (then it goes to the back), and within it
the next member in its own rotation, so one busy server or one busy member
cannot starve the others.

A waiting request hears its position ("2 ahead of you") through a callback,
at most every `REPORT_INTERVAL` seconds (Discord allows about five edits per
five seconds per message); it is dropped with `QueueExpired` when its deadline
passes (the caller sets it so an answer can still be sent), and refused at
once with `QueueFull` when `max_waiting` requests already wait.

`FairQueue` serves one process; the `BackendQueue` protocol is what the
generation path needs, and `bot.usage.redis_queue.RedisFairQueue` takes its
place when several processes share a backend (REDIS_URL): the same rotation,
kept in Redis.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from bot.i18n import _
from bot.usage.errors import QueueExpired, QueueFull
from bot.usage.windows import Clock, system_clock

log = logging.getLogger(__name__)

# Seconds between two position reports to one waiting request.
REPORT_INTERVAL = 1.5
# The last turns a queue remembers, (server, member) each: enough to see the
# order it served in; a list of every turn grew by one tuple per request.
SERVED_KEPT = 100

# Called with the number of generations ahead of the request.
PositionCallback = Callable[[int], Awaitable[None]]


class BackendQueue(Protocol):
    """Waiting for a turn at one backend."""

    def slot(
        self,
        guild_id: int | None,
        user_id: int,
        *,
        deadline: float | None = None,
        on_position: PositionCallback | None = None,
    ) -> AbstractAsyncContextManager[float]:
        """Wait for a turn (yields the seconds waited); the turn ends with the block."""
        ...

    @property
    def waiting(self) -> int: ...

    @property
    def running(self) -> int: ...


@dataclass(eq=False)
class _Entry:
    guild_id: int | None
    user_id: int
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    position: int = 0
    granted: bool = False


# Server → member → that member's waiting entries, each level in rotation order.
_Rotation = OrderedDict[int | None, OrderedDict[int, deque[_Entry]]]


def service_order(rotation: _Rotation) -> list[_Entry]:
    """Every waiting entry in the order the queue will serve them (without changing it)."""
    servers = deque(
        deque((member, deque(entries)) for member, entries in members.items())
        for members in rotation.values()
    )
    order: list[_Entry] = []
    while servers:
        members = servers.popleft()
        member, entries = members.popleft()
        order.append(entries.popleft())
        if entries:
            members.append((member, entries))
        if members:
            servers.append(members)
    return order


class FairQueue:
    """A fair queue with `concurrency` slots (0: no limit) in this process."""

    def __init__(
        self,
        concurrency: int,
        max_waiting: int,
        *,
        clock: Clock = system_clock,
        report_interval: float = REPORT_INTERVAL,
    ) -> None:
        self.concurrency = concurrency
        self.max_waiting = max_waiting
        self.clock = clock
        self.report_interval = report_interval
        self._rotation: _Rotation = OrderedDict()
        self._waiting = 0
        self._running = 0
        # (server, member) in turn order, the last SERVED_KEPT of them.
        self.served: deque[tuple[int | None, int]] = deque(maxlen=SERVED_KEPT)

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def running(self) -> int:
        return self._running

    def order(self) -> list[tuple[int | None, int]]:
        """(server, member) of each waiting request, next first."""
        return [(e.guild_id, e.user_id) for e in service_order(self._rotation)]

    @asynccontextmanager
    async def slot(
        self,
        guild_id: int | None,
        user_id: int,
        *,
        deadline: float | None = None,
        on_position: PositionCallback | None = None,
    ) -> AsyncIterator[float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        if self.concurrency > 0 and self._waiting >= self.max_waiting:
            raise queue_full(self._waiting)
        entry = _Entry(guild_id, user_id)
        self._add(entry)
        try:
            await wait_for_turn(entry, deadline, on_position, self.clock, self.report_interval)
        except BaseException:
            if entry.granted:
                self._release()
            else:
                self._remove(entry)
            raise
        try:
            yield loop.time() - started
        finally:
            self._release()

    # -- the rotation ---------------------------------------------------------------

    def _add(self, entry: _Entry) -> None:
        members = self._rotation.setdefault(entry.guild_id, OrderedDict())
        members.setdefault(entry.user_id, deque()).append(entry)
        self._waiting += 1
        self._grant()

    def _remove(self, entry: _Entry) -> None:
        members = self._rotation.get(entry.guild_id)
        entries = members.get(entry.user_id) if members is not None else None
        if members is None or entries is None or entry not in entries:
            return
        entries.remove(entry)
        self._waiting -= 1
        if not entries:
            del members[entry.user_id]
        if not members:
            del self._rotation[entry.guild_id]
        self._reposition()

    def _pop_next(self) -> _Entry:
        guild_id, members = next(iter(self._rotation.items()))
        user_id, entries = next(iter(members.items()))
        entry = entries.popleft()
        self._waiting -= 1
        if entries:
            members.move_to_end(user_id)
        else:
            del members[user_id]
        if members:
            self._rotation.move_to_end(guild_id)
        else:
            del self._rotation[guild_id]
        return entry

    def _grant(self) -> None:
        while self._rotation and (self.concurrency <= 0 or self._running < self.concurrency):
            entry = self._pop_next()
            entry.granted = True
            self._running += 1
            self.served.append((entry.guild_id, entry.user_id))
            entry.changed.set()
        self._reposition()

    def _reposition(self) -> None:
        for position, entry in enumerate(service_order(self._rotation)):
            if entry.position != position:
                entry.position = position
                entry.changed.set()

    def _release(self) -> None:
        self._running -= 1
        self._grant()


def queue_full(waiting: int) -> QueueFull:
    """The refusal for a request arriving when `waiting` requests already wait."""
    return QueueFull(
        _(
            "The model is busy: {n} requests are already waiting for it, so yours was "
            "not queued; try again in a minute.",
            n=waiting,
        )
    )


async def wait_for_turn(
    entry: _Entry,
    deadline: float | None,
    on_position: PositionCallback | None,
    clock: Clock,
    report_interval: float,
) -> None:
    """Wait until `entry` is granted, reporting its position (at most every
    `report_interval` s) and giving up with QueueExpired at `deadline`.

    Whoever keeps the queue sets `entry.granted` and `entry.position` and then
    `entry.changed`.
    """
    loop = asyncio.get_running_loop()
    shown: int | None = None
    next_report = 0.0
    while not entry.granted:
        now = clock()
        if deadline is not None and now >= deadline:
            raise QueueExpired(
                _(
                    "The model was too busy to start your request in time for Discord's "
                    "15-minute limit on a reply, so it was dropped; try again later."
                )
            )
        due = on_position is not None and entry.position != shown
        if due and loop.time() >= next_report:
            shown, next_report = entry.position, loop.time() + report_interval
            assert on_position is not None
            try:
                await on_position(shown)
            except Exception:
                log.warning("could not report a queue position", exc_info=True)
            continue  # things may have moved while reporting
        timeouts = [] if deadline is None else [deadline - now]
        if due:
            timeouts.append(next_report - loop.time())
        entry.changed.clear()
        try:
            await asyncio.wait_for(entry.changed.wait(), min(timeouts) if timeouts else None)
        except TimeoutError:
            pass
