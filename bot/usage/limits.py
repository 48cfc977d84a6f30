"""The usage limits a server sets, per member and per server, with role overrides.

`LIMITS` is the one place where each limit, its scope and its default live.
A value of 0 means no limit. A member's limit is the server's value unless
one of the member's roles overrides it; among several roles the most generous
wins (0, no limit, beats any number). `LimitStore` keeps the values in the
database, reads them through a per-server cache that every write
invalidates, and records every change in the audit log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from bot.errors import ParameterError
from bot.i18n import Msg, _
from bot.storage.audit import AuditRepository
from bot.storage.cache import GuildCache, frozen
from bot.storage.database import Database
from bot.storage.locks import lock_guild
from bot.storage.usage import SERVER_ROLE, UsageLimitsRepository

log = logging.getLogger(__name__)

Scope = Literal["member", "server"]

# The largest value a limit takes (Discord's integer options go far higher).
MAX_VALUE = 1_000_000_000


@dataclass(frozen=True)
class LimitSpec:
    """One limit: its name (the command's choice), who it applies to, its default."""

    name: str
    scope: Scope
    default: int
    unit: Literal["requests", "tokens", "generations"]


LIMITS: Mapping[str, LimitSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            LimitSpec("requests_per_minute", "member", 0, "requests"),
            LimitSpec("tokens_per_day", "member", 0, "tokens"),
            # One generation at a time per member: a second one is refused, not queued.
            LimitSpec("in_flight", "member", 1, "generations"),
            LimitSpec("server_tokens_per_day", "server", 0, "tokens"),
            LimitSpec("server_tokens_per_month", "server", 0, "tokens"),
        )
    }
)
MEMBER_LIMITS = tuple(name for name, spec in LIMITS.items() if spec.scope == "member")


def describe(name: str) -> Msg:
    """What a limit limits, in a few words."""
    descriptions = {
        "requests_per_minute": _("requests per member per minute"),
        "tokens_per_day": _("tokens per member per UTC day"),
        "in_flight": _("generations running at once per member"),
        "server_tokens_per_day": _("tokens for the whole server per UTC day"),
        "server_tokens_per_month": _("tokens for the whole server per UTC month"),
    }
    return descriptions[name]


def find_limit(name: str) -> LimitSpec:
    """The limit called `name`, or a ParameterError listing the names."""
    spec = LIMITS.get(name.strip().lower())
    if spec is None:
        names = ", ".join(LIMITS)
        raise ParameterError(
            "limit",
            name,
            names,
            _("There is no limit named {name}: use one of {names}.", name=name, names=names),
        )
    return spec


def check_value(name: str, value: int) -> int:
    """A limit value: a whole number from 0 (no limit) to MAX_VALUE."""
    if not 0 <= value <= MAX_VALUE:
        allowed = _("a whole number from 0 (no limit) to {high}", high=MAX_VALUE)
        raise ParameterError(
            "value",
            value,
            allowed,
            _(
                "value {value} is out of range for {name}: use {allowed}.",
                value=value,
                name=name,
                allowed=allowed,
            ),
        )
    return value


@dataclass(frozen=True)
class Effective:
    """A limit as it applies to one member: the value and where it comes from.

    `source` is "default", "server", "role" (then `role_id` says which) or "exempt".
    """

    name: str
    value: int
    source: str
    role_id: int | None = None

    @property
    def unlimited(self) -> bool:
        return self.value == 0


@dataclass(frozen=True, slots=True)
class LimitConfig:
    """What a server set: its own values and its roles' overrides (role id → name → value)."""

    guild_id: int | None
    server: Mapping[str, int] = field(default_factory=dict)
    roles: Mapping[int, Mapping[str, int]] = field(default_factory=dict)

    def value(self, name: str) -> int:
        """The server's value, or the default."""
        return int(self.server.get(name, LIMITS[name].default))

    def overrides(self, name: str) -> dict[int, int]:
        """Role id → value, for the roles that override `name`."""
        return {role: values[name] for role, values in self.roles.items() if name in values}

    def for_member(self, role_ids: Iterable[int] = (), *, exempt: bool = False) -> list[Effective]:
        """Every limit as it applies to a member with these roles.

        `exempt` (a member with Manage Server, when the server exempts them)
        lifts the member limits; the server's own budgets still apply.
        """
        roles = set(role_ids)
        found = []
        for name, spec in LIMITS.items():
            if spec.scope == "member" and exempt:
                found.append(Effective(name, 0, "exempt"))
                continue
            overrides = {r: v for r, v in self.overrides(name).items() if r in roles}
            if spec.scope == "member" and overrides:
                # The most generous role wins: no limit (0) first, then the highest.
                role = max(overrides, key=lambda r: (overrides[r] == 0, overrides[r], -r))
                found.append(Effective(name, overrides[role], "role", role))
            elif name in self.server:
                found.append(Effective(name, self.server[name], "server"))
            else:
                found.append(Effective(name, spec.default, "default"))
        return found


class LimitStore:
    """A server's limits, read through a cache, changed with an audit entry each."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.cache: GuildCache[LimitConfig] = GuildCache(self._load)

    async def _load(self, guild_id: int) -> LimitConfig:
        async with self.db.read() as session:
            values = await UsageLimitsRepository(session).all(guild_id)
        server = frozen(dict(values.pop(SERVER_ROLE, {})))
        roles = frozen({r: frozen(v) for r, v in values.items()})
        return LimitConfig(guild_id, server, roles)

    async def get(self, guild_id: int | None) -> LimitConfig:
        """The server's limits; a direct message (None) has the defaults."""
        if guild_id is None:
            return LimitConfig(None)
        return await self.cache.get(guild_id)

    async def set(self, guild_id: int, name: str, value: int, actor_id: int) -> LimitConfig:
        """Set the server's value of a limit."""
        spec = find_limit(name)
        check_value(spec.name, value)
        await self._put(guild_id, SERVER_ROLE, spec.name, value, actor_id, "limit.set", spec.name)
        return await self.get(guild_id)

    async def set_role(
        self, guild_id: int, role_id: int, name: str, value: int, actor_id: int
    ) -> LimitConfig:
        """Override a member limit for one role (its members get the most generous)."""
        spec = find_limit(name)
        check_value(spec.name, value)
        if spec.scope != "member":
            member_limits = ", ".join(MEMBER_LIMITS)
            raise ParameterError(
                "limit",
                spec.name,
                member_limits,
                _(
                    "{name} is the whole server's budget, so a role cannot change it: "
                    "give roles one of {names}.",
                    name=spec.name,
                    names=member_limits,
                ),
            )
        target = f"{spec.name}@{role_id}"
        await self._put(guild_id, role_id, spec.name, value, actor_id, "limit.role", target)
        return await self.get(guild_id)

    async def _put(
        self,
        guild_id: int,
        role_id: int,
        name: str,
        value: int,
        actor_id: int,
        action: str,
        target: str,
    ) -> None:
        async with self.db.write() as session:
            await lock_guild(session, guild_id)
            repo = UsageLimitsRepository(session)
            old = (await repo.all(guild_id)).get(role_id, {}).get(name)
            if old != value:
                await repo.put(guild_id, role_id, name, value, actor_id)
                AuditRepository(session).record(guild_id, actor_id, action, target, old, value)
        await self.cache.changed(guild_id)
        log.info("guild %s: %s set %s to %s", guild_id, actor_id, target, value)

    async def reset(
        self, guild_id: int, name: str | None, actor_id: int, *, role_id: int | None = None
    ) -> list[str]:
        """Back to the defaults: one limit or all, for the server and its roles (or one role).

        Returns what was removed, as "name" (the server's value) or "name@role".
        """
        names = [find_limit(name).name] if name is not None else None
        removed: list[str] = []
        async with self.db.write() as session:
            await lock_guild(session, guild_id)
            repo = UsageLimitsRepository(session)
            audit = AuditRepository(session)
            for role, values in sorted((await repo.all(guild_id)).items()):
                if role_id is not None and role != role_id:
                    continue
                for limit, value in sorted(values.items()):
                    if names is not None and limit not in names:
                        continue
                    target = limit if role == SERVER_ROLE else f"{limit}@{role}"
                    audit.record(guild_id, actor_id, "limit.reset", target, value, None)
                    removed.append(target)
            if removed:
                await repo.remove(guild_id, names=names, role_id=role_id)
        await self.cache.changed(guild_id)
        return removed
