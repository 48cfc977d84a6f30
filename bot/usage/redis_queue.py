"""The fair queue to one backend, shared by every bot process through Redis.

The same rotation as `FairQueue` (round robin across servers, then across the
members of each server) and the same concurrency limit, but counted across
processes: `COMPLETIONS_CONCURRENCY` generations at once on the backend, however
many processes send them. Under one key prefix per backend (in one Redis
cluster slot):

    :guilds          list, the servers in rotation order
    :g:<server>      list, that server's members in rotation order
    :q:<server>:<m>  list, that member's waiting request ids, oldest first
    :e:<id>          hash, a request's server, member and state
    :alive           sorted set, waiting requests by when they lapse
    :running         sorted set, running requests by when they lapse

Every change is one Lua script (atomic), which also grants free slots in
rotation order and publishes on `:changed`. Each process keeps one poller
while it has requests waiting or running: it wakes on `:changed` (or every
`POLL_INTERVAL`), renews its requests' lapse times, and learns their places.
A process that dies stops renewing: its waiting requests leave the queue
after `ALIVE` seconds and its running ones free their slots after
`SLOT_TTL`, so a kill -9 never blocks the backend for good. Times come from
Redis's own clock, so processes on machines whose clocks differ agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from bot.usage.errors import QueueUnavailable
from bot.usage.queue import (
    REPORT_INTERVAL,
    PositionCallback,
    _Entry,
    queue_full,
    wait_for_turn,
)
from bot.usage.windows import Clock, system_clock

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

# Seconds a waiting request stays queued without its process renewing it.
ALIVE = 10.0
# Seconds a running request keeps its slot without its process renewing it.
SLOT_TTL = 30.0
# Seconds between polls when no change was announced.
POLL_INTERVAL = 1.0

PRELUDE = """
local P = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local GUILDS, ALIVE, RUNNING = P .. ':guilds', P .. ':alive', P .. ':running'

local function qkey(g, m) return P .. ':q:' .. g .. ':' .. m end

local function unlink(id)
  local e = P .. ':e:' .. id
  local g, m = redis.call('HGET', e, 'g'), redis.call('HGET', e, 'm')
  if g and m then
    local q, gk = qkey(g, m), P .. ':g:' .. g
    redis.call('LREM', q, 1, id)
    if redis.call('LLEN', q) == 0 then
      redis.call('LREM', gk, 1, m)
      if redis.call('LLEN', gk) == 0 then redis.call('LREM', GUILDS, 1, g) end
    end
  end
  redis.call('ZREM', ALIVE, id)
end

local function purge()
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', ALIVE, '-inf', now)) do
    unlink(id)
    redis.call('DEL', P .. ':e:' .. id)
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', RUNNING, '-inf', now)) do
    redis.call('DEL', P .. ':e:' .. id)
  end
  redis.call('ZREMRANGEBYSCORE', RUNNING, '-inf', now)
end

local function grant(limit, run_ms)
  local granted = 0
  while limit <= 0 or redis.call('ZCARD', RUNNING) < limit do
    local g = redis.call('LINDEX', GUILDS, 0)
    if not g then break end
    local gk = P .. ':g:' .. g
    local m = redis.call('LINDEX', gk, 0)
    local q = qkey(g, m)
    local id = redis.call('LPOP', q)
    if redis.call('LLEN', q) > 0 then
      redis.call('LMOVE', gk, gk, 'LEFT', 'RIGHT')
    else
      redis.call('LPOP', gk)
    end
    if redis.call('LLEN', gk) > 0 then
      redis.call('LMOVE', GUILDS, GUILDS, 'LEFT', 'RIGHT')
    else
      redis.call('LPOP', GUILDS)
    end
    redis.call('ZREM', ALIVE, id)
    redis.call('ZADD', RUNNING, now + run_ms, id)
    redis.call('HSET', P .. ':e:' .. id, 'state', 'granted')
    granted = granted + 1
  end
  if granted > 0 then redis.call('PUBLISH', P .. ':changed', 'granted') end
  return granted
end

local function order()
  local servers, head, out = {}, 1, {}
  for _, g in ipairs(redis.call('LRANGE', GUILDS, 0, -1)) do
    local members = {}
    for _, m in ipairs(redis.call('LRANGE', P .. ':g:' .. g, 0, -1)) do
      table.insert(members, {ids = redis.call('LRANGE', qkey(g, m), 0, -1), i = 1})
    end
    table.insert(servers, {members = members, h = 1})
  end
  while head <= #servers do
    local s = servers[head]
    head = head + 1
    local member = s.members[s.h]
    s.h = s.h + 1
    out[member.ids[member.i]] = #out
    table.insert(out, member.ids[member.i])
    member.i = member.i + 1
    if member.i <= #member.ids then table.insert(s.members, member) end
    if s.h <= #s.members then table.insert(servers, s) end
  end
  return out
end
"""

# ARGV: id, server, member, limit, max_waiting, alive_ms, run_ms.
# Returns {state (1 granted, 0 waiting, -1 full), waiting, running}.
ENQUEUE = (
    PRELUDE
    + """
local id, g, m = ARGV[1], ARGV[2], ARGV[3]
local limit, max_waiting = tonumber(ARGV[4]), tonumber(ARGV[5])
local alive_ms, run_ms = tonumber(ARGV[6]), tonumber(ARGV[7])
purge()
if limit > 0 and redis.call('ZCARD', ALIVE) >= max_waiting then
  return {-1, redis.call('ZCARD', ALIVE), redis.call('ZCARD', RUNNING)}
end
local e = P .. ':e:' .. id
redis.call('HSET', e, 'g', g, 'm', m, 'state', 'waiting')
redis.call('PEXPIRE', e, 86400000)
local q, gk = qkey(g, m), P .. ':g:' .. g
if redis.call('LLEN', q) == 0 then
  if redis.call('LLEN', gk) == 0 then redis.call('RPUSH', GUILDS, g) end
  redis.call('RPUSH', gk, m)
end
redis.call('RPUSH', q, id)
redis.call('ZADD', ALIVE, now + alive_ms, id)
grant(limit, run_ms)
redis.call('PUBLISH', P .. ':changed', 'queued')
local state = redis.call('HGET', e, 'state') == 'granted' and 1 or 0
return {state, redis.call('ZCARD', ALIVE), redis.call('ZCARD', RUNNING)}
"""
)

# ARGV: limit, alive_ms, run_ms, number of waiting ids, the waiting ids, the running ids.
# Returns {waiting, running, then per waiting id: -1 granted, -2 gone, else its place}.
POLL = (
    PRELUDE
    + """
local limit, alive_ms, run_ms = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local count = tonumber(ARGV[4])
for i = 5, #ARGV do
  if i < 5 + count then
    redis.call('ZADD', ALIVE, 'XX', now + alive_ms, ARGV[i])
  else
    redis.call('ZADD', RUNNING, 'XX', now + run_ms, ARGV[i])
  end
end
purge()
grant(limit, run_ms)
local places = order()
local out = {redis.call('ZCARD', ALIVE), redis.call('ZCARD', RUNNING)}
for i = 5, 4 + count do
  local id = ARGV[i]
  if redis.call('ZSCORE', RUNNING, id) then
    table.insert(out, -1)
  elseif places[id] ~= nil then
    table.insert(out, places[id])
  else
    table.insert(out, -2)
  end
end
return out
"""
)

# ARGV: id, limit, run_ms. Ends a request, waiting or running, and grants what is free.
LEAVE = (
    PRELUDE
    + """
local id, limit, run_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
unlink(id)
redis.call('ZREM', RUNNING, id)
redis.call('DEL', P .. ':e:' .. id)
purge()
grant(limit, run_ms)
redis.call('PUBLISH', P .. ':changed', 'left')
return 0
"""
)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class RedisFairQueue:
    """A fair queue with `concurrency` slots (0: no limit) across every process."""

    def __init__(
        self,
        redis: Redis,
        backend_key: str,
        concurrency: int,
        max_waiting: int,
        *,
        clock: Clock = system_clock,
        report_interval: float = REPORT_INTERVAL,
        alive: float = ALIVE,
        slot_ttl: float = SLOT_TTL,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self.redis = redis
        digest = hashlib.sha1(backend_key.encode()).hexdigest()[:16]
        self.prefix = f"couplet:queue:{{{digest}}}"
        self.concurrency = concurrency
        self.max_waiting = max_waiting
        self.clock = clock
        self.report_interval = report_interval
        self.alive = alive
        self.slot_ttl = slot_ttl
        self.poll_interval = poll_interval
        self._enqueue = redis.register_script(ENQUEUE)
        self._poll = redis.register_script(POLL)
        self._leave = redis.register_script(LEAVE)
        self._waiters: dict[str, _Entry] = {}
        self._running_ids: set[str] = set()
        self._poller: asyncio.Task[None] | None = None
        # What the queue held at the last look, over every process.
        self.shared_waiting = 0
        self.shared_running = 0

    @property
    def waiting(self) -> int:
        """Requests of this process waiting for a turn."""
        return len(self._waiters)

    @property
    def running(self) -> int:
        """Requests of this process running on the backend."""
        return len(self._running_ids)

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
        rid = uuid.uuid4().hex
        entry = _Entry(guild_id, user_id)
        state = await self._join(rid, entry)
        if state == -1:
            raise queue_full(self.shared_waiting)
        if state == 1:
            entry.granted = True
            self._running_ids.add(rid)
        else:
            self._waiters[rid] = entry
            with contextlib.suppress(RedisError):
                await self._poll_once()  # its place, before it is first reported
        self._start_poller()
        try:
            await wait_for_turn(entry, deadline, on_position, self.clock, self.report_interval)
        except BaseException:
            self._waiters.pop(rid, None)
            self._running_ids.discard(rid)
            await self._end(rid)
            raise
        self._waiters.pop(rid, None)
        self._running_ids.add(rid)
        try:
            yield loop.time() - started
        finally:
            self._running_ids.discard(rid)
            await self._end(rid)

    async def _join(self, rid: str, entry: _Entry) -> int:
        args: list[str | int] = [
            rid,
            "dm" if entry.guild_id is None else str(entry.guild_id),
            str(entry.user_id),
            self.concurrency,
            self.max_waiting,
            _ms(self.alive),
            _ms(self.slot_ttl),
        ]
        try:
            state, waiting, running = await self._enqueue(keys=[self.prefix], args=args)
        except RedisError as err:
            raise QueueUnavailable.because(err) from err
        self.shared_waiting, self.shared_running = int(waiting), int(running)
        return int(state)

    async def _end(self, rid: str) -> None:
        """Leave the queue or give the slot back; a failure is logged (it lapses anyway)."""
        try:
            await self._leave(keys=[self.prefix], args=[rid, self.concurrency, _ms(self.slot_ttl)])
        except RedisError as err:
            log.warning("could not leave the shared queue (%s); the slot will lapse", err)

    # -- the poller ------------------------------------------------------------------

    def _start_poller(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._run_poller(), name="couplet-shared-queue")

    async def _run_poller(self) -> None:
        """Renew this process's requests and learn their places while it has any."""
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.subscribe(f"{self.prefix}:changed")
            while self._waiters or self._running_ids:
                try:
                    await self._poll_once()
                except RedisError as err:
                    log.warning("could not poll the shared queue (%s); trying again", err)
                try:
                    # Wait for a change anywhere in the queue, or the next poll.
                    await pubsub.get_message(timeout=self.poll_interval)
                except (RedisError, OSError):
                    await asyncio.sleep(self.poll_interval)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()

    async def _poll_once(self) -> None:
        waiting = list(self._waiters)
        args: list[str | int] = [
            self.concurrency,
            _ms(self.alive),
            _ms(self.slot_ttl),
            len(waiting),
            *waiting,
            *self._running_ids,
        ]
        answer = await self._poll(keys=[self.prefix], args=args)
        self.shared_waiting, self.shared_running = int(answer[0]), int(answer[1])
        for rid, place in zip(waiting, answer[2:], strict=True):
            entry = self._waiters.get(rid)
            if entry is None:
                continue
            place = int(place)
            if place == -1:
                entry.granted = True
                self._running_ids.add(rid)
                self._waiters.pop(rid, None)
            elif place == -2:
                # Lapsed (this process stalled longer than ALIVE): queue it again.
                log.warning("a queued request lapsed in the shared queue; queueing it again")
                if await self._join(rid, entry) == 1:
                    entry.granted = True
                    self._running_ids.add(rid)
                    self._waiters.pop(rid, None)
            else:
                entry.position = place
            entry.changed.set()
