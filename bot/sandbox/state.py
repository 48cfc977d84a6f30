"""The emulator's state: the world, stored commands, gateway sessions and lookups."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.sandbox import permissions as perm
from bot.sandbox.clock import FakeClock
from bot.sandbox.gateway import GatewaySession
from bot.sandbox.interactions import InteractionRecord, Upload
from bot.sandbox.options import OptionError
from bot.sandbox.snowflakes import SnowflakeGenerator
from bot.sandbox.world import Channel, Guild, Member, World

MessageRef = dict[str, Any] | int | str


class UnknownCommand(OptionError):
    """The command was never synced, so a Discord client could not run it."""


class ComponentError(LookupError):
    """No such (enabled) button or select on that message."""


@dataclass
class RateLimitInjection:
    """Answer the next `count` requests whose 'METHOD /path' contains `match` with a 429."""

    match: str
    retry_after: float
    count: int = 1
    is_global: bool = False
    hits: int = 0


class EmulatorState:
    """Everything the emulator knows; the default world is one server with two channels."""

    def __init__(
        self,
        *,
        bot_name: str = "Couplet",
        default_world: bool = True,
        response_window: float = 3.0,
        token_lifetime: float = 15 * 60.0,
        recommended_shards: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.ids = SnowflakeGenerator()
        self.world = World(self.ids)
        self.clock = FakeClock()
        self.response_window = response_window
        self.token_lifetime = token_lifetime
        self.recommended_shards = recommended_shards
        self.host, self._port = host, port
        self.application_id = self.ids.next()
        self.world.set_bot(bot_name)
        self.bot_token: str | None = None
        self.sessions: list[GatewaySession] = []
        self.all_sessions: list[GatewaySession] = []
        self.identifies: list[dict[str, Any]] = []
        self.resumes = 0
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.commands_synced = asyncio.Event()
        self.connected = asyncio.Event()
        self.messages: dict[int, dict[str, Any]] = {}
        self.attachments: dict[int, Upload] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self.interactions_by_token: dict[str, InteractionRecord] = {}
        self.unknown_routes: list[str] = []
        self.rejections: list[dict[str, Any]] = []
        self.requests: list[str] = []
        self.rate_limited: list[str] = []
        self._injections: list[RateLimitInjection] = []
        # Discord hides commands whose default_member_permissions the member lacks,
        # but server admins can override that per command, so runtime checks must
        # still be testable: hiding is opt-in.
        self.enforce_default_permissions = False
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self._tasks: set[asyncio.Future[Any]] = set()
        if default_world:
            guild = self.add_guild("Test Server")
            guild.add_channel("general")
            guild.add_channel("random")
            guild.add_member("alice")
            guild.add_member("admin", roles=[guild.add_role("Admin", perm.ADMINISTRATOR)])
            guild.owner_id = self.world.user("owner").id
            guild.add_member("owner")

    # ------------------------------------------------------------- world
    def add_guild(self, name: str) -> Guild:
        """A new server; the bot is a member with its integration role."""
        return self.world.add_guild(name)

    @property
    def guild(self) -> Guild:
        """The first (default) guild."""
        return self.world.guilds[0]

    def _guild(self, ref: Guild | str | int | None) -> Guild:
        if isinstance(ref, Guild):
            return ref
        return self.guild if ref is None else self.world.guild(ref)

    def _channel(self, guild: Guild, ref: Channel | str | int | None) -> Channel:
        if isinstance(ref, Channel):
            return ref
        if ref is None:
            return guild.channels[0]
        return guild.channel(ref)

    def _member(self, guild: Guild, ref: Member | str | int | None) -> Member:
        if isinstance(ref, Member):
            return ref
        if ref is None:
            return next(m for m in guild.members if not m.user.bot)
        return guild.member(ref)

    def _where(
        self,
        guild: Guild | str | int | None,
        channel: Channel | str | int | None,
        member: Member | str | int | None,
    ) -> tuple[Guild, Channel, Member]:
        if isinstance(channel, Channel) and guild is None:
            guild = channel.guild
        if isinstance(member, Member) and guild is None:
            guild = member.guild
        g = self._guild(guild)
        return g, self._channel(g, channel), self._member(g, member)

    # ---------------------------------------------------------- commands
    def commands(self, guild: Guild | int | None = None) -> list[dict[str, Any]]:
        """The registered command definitions, global or for one guild."""
        if guild is None:
            return copy.deepcopy(self.global_commands)
        gid = guild.id if isinstance(guild, Guild) else int(guild)
        return copy.deepcopy(self.guild_commands.get(gid, []))

    def _store_commands(
        self, commands: list[dict[str, Any]], guild_id: int | None
    ) -> list[dict[str, Any]]:
        previous = (
            self.global_commands if guild_id is None else self.guild_commands.get(guild_id, [])
        )
        old = {(c.get("type", 1), c["name"]): c for c in previous}
        stored = []
        for cmd in commands:
            ctype = int(cmd.get("type", 1))
            keep = old.get((ctype, cmd["name"]))
            item = copy.deepcopy(cmd)
            item["type"] = ctype
            item["id"] = keep["id"] if keep else str(self.ids.next())
            item["application_id"] = str(self.application_id)
            item["version"] = str(self.ids.next())
            item.setdefault("description", "")
            perms = item.get("default_member_permissions")
            item["default_member_permissions"] = None if perms is None else str(perms)
            if guild_id is not None:
                item["guild_id"] = str(guild_id)
            stored.append(item)
        if guild_id is None:
            self.global_commands = stored
        else:
            self.guild_commands[guild_id] = stored
        self.commands_synced.set()
        return copy.deepcopy(stored)

    def find_command(
        self, name: str, guild: Guild | str | int | None = None, ctype: int = 1
    ) -> tuple[dict[str, Any], bool]:
        """The synced definition a member of `guild` would see, and whether it is guild-scoped.

        Raises UnknownCommand if no such command was synced (globally or for that guild).
        """
        return self._find_command(name, self._guild(guild), ctype)

    def _find_command(self, name: str, guild: Guild, ctype: int) -> tuple[dict[str, Any], bool]:
        """The synced definition a user in `guild` would see, and whether it is guild-scoped."""
        for scoped, pool in (
            (True, self.guild_commands.get(guild.id, [])),
            (False, self.global_commands),
        ):
            for cmd in pool:
                if cmd["name"] == name and cmd.get("type", 1) == ctype:
                    return cmd, scoped
        kind = {1: "slash command", 2: "user command", 3: "message command"}[ctype]
        raise UnknownCommand(
            f"no {kind} {name!r} is synced for {guild.name!r} (was tree.sync() called?)"
        )

    def _can_see(self, cmd: dict[str, Any], member: Member) -> None:
        required = cmd.get("default_member_permissions")
        if (
            self.enforce_default_permissions
            and required is not None
            and not member.has(int(required))
        ):
            raise OptionError(
                f"{member.name} cannot see /{cmd['name']}: it needs permissions {required} "
                "(default_member_permissions)."
            )

    # ---------------------------------------------------------- dispatch
    def _session_for(self, guild: Guild | None) -> GatewaySession:
        live = [s for s in self.sessions if s.identified.is_set() and not s.ws.closed]
        if guild is not None:
            live = [s for s in live if s.owns(guild)]
        if not live:
            raise RuntimeError("no bot is connected to the emulator's gateway for that guild")
        return live[-1]

    async def dispatch(self, t: str, d: Any, *, guild: Guild | None = None) -> None:
        """Send a gateway event to the shard that owns `guild` (or every shard)."""
        if guild is None:
            for session in list(self.sessions):
                if session.identified.is_set():
                    await session.dispatch(t, d)
            return
        await self._session_for(guild).dispatch(t, d)

    async def drop_connections(self, code: int = 4000) -> None:
        """Close every gateway connection with `code` (4000 makes discord.py resume)."""
        for session in list(self.sessions):
            session.identified.clear()
            await session.ws.close(code=code, message=b"emulator closed the connection")
            if session in self.sessions:
                self.sessions.remove(session)

    def _on_identified(self) -> None:
        self.connected.set()

    # ------------------------------------------------------------ helpers
    def last_bot_message(
        self, channel: Channel | str | int | None = None, *, with_components: bool = False
    ) -> dict[str, Any] | None:
        """The newest message from the bot (ephemeral ones included), optionally with components."""
        bot_id = str(self.world.bot_user.id) if self.world.bot_user else ""
        ch = (
            None
            if channel is None
            else self._channel(
                self.guild if not isinstance(channel, Channel) else channel.guild, channel
            )
        )
        for msg in sorted(self.messages.values(), key=lambda m: int(m["id"]), reverse=True):
            if msg["author"]["id"] != bot_id:
                continue
            if ch is not None and msg["channel_id"] != str(ch.id):
                continue
            if with_components and not msg.get("components"):
                continue
            return msg
        return None
