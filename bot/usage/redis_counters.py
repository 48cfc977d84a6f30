"""Usage counters in Redis, shared by every bot process (`REDIS_URL`).

Each counter is two keys: `<key>:c`, the committed total (budgets only), and
`<key>:h`, a sorted set of holds scored by when they lapse, each member
`<reservation id>:<amount>`. The check-and-reserve across every scope of a
request is one Lua script (registered with `register_script`), so Redis runs
it atomically: two processes racing for a member's last request both run it,
one after the other. Keys expire with their window (a day's budget at the
end of the day, holds when they lapse), so nothing piles up.

Times are seconds since the epoch from the caller's clock, so tests can move
time and every process agrees on windows as long as their clocks do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.usage.counters import CounterStoreError, Hold, Refusal

# KEYS: per hold, its counter key then its holds key.
# ARGV: now, reservation id, then per hold: limit, amount, lapse_at, expires_at.
# Returns -1 when every hold was added, else {index, level, earliest lapse or ""}.
RESERVE = """
local now = tonumber(ARGV[1])
local rid = ARGV[2]
local n = #KEYS / 2
for i = 1, n do
  local c, h = KEYS[2 * i - 1], KEYS[2 * i]
  local base = 2 + (i - 1) * 4
  local limit, amount = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
  redis.call('ZREMRANGEBYSCORE', h, '-inf', now)
  local level = tonumber(redis.call('GET', c) or '0')
  local live = redis.call('ZRANGE', h, 0, -1, 'WITHSCORES')
  local earliest = ''
  for j = 1, #live, 2 do
    -- A reservation made again under its id replaces its earlier holds.
    if string.sub(live[j], 1, #rid + 1) ~= rid .. ':' then
      level = level + tonumber(string.match(live[j], ':(%d+)$'))
      if earliest == '' then earliest = live[j + 1] end
    end
  end
  if limit > 0 and level + amount > limit then
    return {i - 1, level, earliest}
  end
end
for i = 1, n do
  local h = KEYS[2 * i]
  local base = 2 + (i - 1) * 4
  local amount, lapse = ARGV[base + 2], tonumber(ARGV[base + 3])
  local live = redis.call('ZRANGE', h, 0, -1)
  for j = 1, #live do
    if string.sub(live[j], 1, #rid + 1) == rid .. ':' then redis.call('ZREM', h, live[j]) end
  end
  redis.call('ZADD', h, lapse, rid .. ':' .. amount)
  local keep = math.ceil(lapse * 1000)
  if redis.call('PEXPIRETIME', h) < keep then redis.call('PEXPIREAT', h, keep) end
end
return -1
"""

# KEYS: per scope, its counter key then its holds key.
# ARGV: now, then per scope: committed total (budgets; -1 for a window), expires_at,
# and for a window the number of entries followed by (entry id, lapse_at) pairs.
RESTORE = """
local now = tonumber(ARGV[1])
local pos = 2
for i = 1, #KEYS / 2 do
  local c, h = KEYS[2 * i - 1], KEYS[2 * i]
  local total, expires = tonumber(ARGV[pos]), tonumber(ARGV[pos + 1])
  local count = tonumber(ARGV[pos + 2])
  pos = pos + 3
  if total >= 0 and tonumber(redis.call('GET', c) or '0') < total then
    redis.call('SET', c, total, 'PXAT', math.ceil(expires * 1000))
  end
  local empty = redis.call('ZCOUNT', h, '(' .. now, '+inf') == 0
  for j = 1, count do
    local lapse = tonumber(ARGV[pos + 1])
    if empty and lapse > now then
      redis.call('ZADD', h, lapse, ARGV[pos] .. ':1')
      local keep = math.ceil(lapse * 1000)
      if redis.call('PEXPIRETIME', h) < keep then redis.call('PEXPIREAT', h, keep) end
    end
    pos = pos + 2
  end
end
return 0
"""


def _ms(at: float) -> int:
    return int(at * 1000) + 1


def _amount(member: bytes | str) -> int:
    text = member.decode() if isinstance(member, bytes) else member
    return int(text.rsplit(":", 1)[1])


class RedisCounters:
    """Counters kept in Redis; see the module docstring for the layout."""

    def __init__(self, redis: Redis, *, close: bool = True) -> None:
        self.redis = redis
        self._close = close  # False when the client is shared (the bot's)
        self._reserve = redis.register_script(RESERVE)
        self._restore = redis.register_script(RESTORE)

    @classmethod
    def from_url(cls, url: str) -> RedisCounters:
        return cls(Redis.from_url(url))

    async def reserve(self, rid: str, holds: Sequence[Hold], now: float) -> Refusal | None:
        keys: list[str] = []
        args: list[Any] = [repr(now), rid]
        for hold in holds:
            keys += [f"{hold.key}:c", f"{hold.key}:h"]
            args += [hold.limit, hold.amount, repr(hold.lapse_at), repr(hold.expires_at)]
        try:
            answer = await self._reserve(keys=keys, args=args)
        except RedisError as err:
            raise CounterStoreError(f"Redis refused or failed the reservation: {err}") from err
        if answer == -1:
            return None
        index, level, earliest = answer
        earliest_text = earliest.decode() if isinstance(earliest, bytes) else str(earliest)
        return Refusal(int(index), int(level), float(earliest_text) if earliest_text else None)

    async def settle(self, rid: str, holds: Sequence[Hold], actual: Mapping[str, int]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for hold in holds:
                if hold.kind == "window":
                    continue
                pipe.zrem(f"{hold.key}:h", f"{rid}:{hold.amount}")
                used = actual.get(hold.key, 0)
                if hold.kind == "budget" and used > 0:
                    pipe.incrby(f"{hold.key}:c", used)
                    pipe.pexpireat(f"{hold.key}:c", _ms(hold.expires_at))
            await pipe.execute()

    async def release(self, rid: str, holds: Sequence[Hold]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for hold in holds:
                pipe.zrem(f"{hold.key}:h", f"{rid}:{hold.amount}")
            await pipe.execute()

    async def levels(self, keys: Sequence[str], now: float) -> dict[str, int]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(f"{key}:c")
                pipe.zrangebyscore(f"{key}:h", f"({now!r}", "+inf")
            answers = await pipe.execute()
        found = {}
        for i, key in enumerate(keys):
            committed, live = answers[2 * i], answers[2 * i + 1]
            found[key] = int(committed or 0) + sum(_amount(m) for m in live)
        return found

    async def restore(
        self,
        totals: Mapping[str, tuple[int, float]],
        windows: Mapping[str, Sequence[tuple[str, float]]],
        now: float,
    ) -> None:
        keys: list[str] = []
        args: list[Any] = [repr(now)]
        for key, (total, expires_at) in totals.items():
            keys += [f"{key}:c", f"{key}:h"]
            args += [total, repr(expires_at), 0]
        for key, entries in windows.items():
            keys += [f"{key}:c", f"{key}:h"]
            args += [-1, repr(now), len(entries)]
            for entry_id, lapse_at in entries:
                args += [entry_id, repr(lapse_at)]
        if keys:
            await self._restore(keys=keys, args=args)

    async def aclose(self) -> None:
        if self._close:
            await self.redis.aclose()
