"""FakeDiscord: a local Discord (REST v10 + gateway) with an injection API for tests."""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.sandbox import limits, messages
from bot.sandbox import permissions as perm
from bot.sandbox.clock import FakeClock
from bot.sandbox.gateway import INTENT_GUILD_MESSAGES, GatewaySession, gateway_handler
from bot.sandbox.http_util import ApiError, json_response, rate_limit_headers
from bot.sandbox.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    COMPONENT,
    MODAL_SUBMIT,
    HistoryEntry,
    InteractionRecord,
    Upload,
)
from bot.sandbox.messages import IncomingFile
from bot.sandbox.options import (
    ATTACHMENT,
    CHANNEL,
    MENTIONABLE,
    ROLE,
    USER,
    OptionError,
    build_options,
)
from bot.sandbox.rest import setup_routes
from bot.sandbox.snowflakes import SnowflakeGenerator
from bot.sandbox.world import Channel, Guild, Member, Role, World

log = logging.getLogger(__name__)

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


class FakeDiscord:
    """A Discord the real discord.py client connects to over loopback.

    Start it, point the bot at `api_base` and `gateway_url`, then drive it with
    `slash`, `click`, `select`, `submit_modal`, `autocomplete`, `context_menu`
    and `post_message`, and read the bot's answers from the returned records.
    """

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
        if default_world:
            guild = self.add_guild("Test Server")
            guild.add_channel("general")
            guild.add_channel("random")
            guild.add_member("alice")
            admin = guild.add_member("admin", roles=[guild.add_role("Admin", perm.ADMINISTRATOR)])
            guild.owner_id = self.world.user("owner").id
            guild.add_member("owner")
            del admin

    # ------------------------------------------------------------ server
    async def start(self) -> FakeDiscord:
        """Listen on a free loopback port."""
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)

        async def gateway(request: web.Request) -> web.StreamResponse:
            return await gateway_handler(self, request)

        app.router.add_get("/gateway", gateway)
        setup_routes(app, self)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://{self.host}:{port}"
        return self

    async def stop(self) -> None:
        for session in list(self.sessions):
            if not session.ws.closed:
                await session.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"{self.base_url.replace('http://', 'ws://')}/gateway"

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        is_api = request.path.startswith("/api/")
        if is_api:
            entry = f"{request.method} {request.path}"
            self.requests.append(entry)
            injected = self._take_injection(entry)
            if injected is not None:
                self.rate_limited.append(entry)
                return self._too_many(injected)
        try:
            response = await handler(request)
        except ApiError as err:
            response = err.response()
        if is_api and isinstance(response, web.Response):
            route = request.match_info.route.resource
            bucket = (route.canonical if route is not None else request.path).encode().hex()[:32]
            response.headers.update(rate_limit_headers(bucket))
        return response

    def _take_injection(self, entry: str) -> RateLimitInjection | None:
        for injection in self._injections:
            if injection.count > 0 and injection.match in entry:
                injection.count -= 1
                injection.hits += 1
                return injection
        return None

    @staticmethod
    def _too_many(injection: RateLimitInjection) -> web.Response:
        headers = rate_limit_headers("injected", remaining=0, reset_after=injection.retry_after)
        headers.update(
            {
                # Without Via, discord.py takes a 429 for a Cloudflare ban and gives up.
                "Via": "1.1 google",
                "Retry-After": str(math.ceil(injection.retry_after)),
                "X-RateLimit-Scope": "user",
            }
        )
        if injection.is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": injection.retry_after,
            "global": injection.is_global,
        }
        return json_response(body, status=429, headers=headers)

    def inject_rate_limit(
        self,
        route_substring: str,
        retry_after: float = 0.1,
        *,
        count: int = 1,
        is_global: bool = False,
    ) -> RateLimitInjection:
        """Answer the next `count` API requests matching 'METHOD /path' substring with a 429."""
        injection = RateLimitInjection(route_substring, retry_after, count, is_global)
        self._injections.append(injection)
        return injection

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

    # ---------------------------------------------------- option resolving
    def _resolver(self, guild: Guild):  # type: ignore[no-untyped-def]
        def resolve(
            otype: int, value: Any, opt: dict[str, Any]
        ) -> tuple[str, dict[str, dict[str, Any]]]:
            if otype in (USER, MENTIONABLE) and not isinstance(value, Role):
                try:
                    member = self._member(guild, value)
                except LookupError:
                    if otype == USER:
                        raise OptionError(f"option {opt['name']!r}: no member {value!r}.") from None
                else:
                    data = member.payload(with_permissions=True)
                    user = data.pop("user")
                    return str(member.id), {
                        "users": {str(member.id): user},
                        "members": {str(member.id): data},
                    }
            if otype in (ROLE, MENTIONABLE):
                try:
                    role = value if isinstance(value, Role) else guild.role(value)
                except LookupError:
                    raise OptionError(f"option {opt['name']!r}: no role {value!r}.") from None
                return str(role.id), {"roles": {str(role.id): role.payload()}}
            if otype == CHANNEL:
                try:
                    channel = self._channel(guild, value)
                except LookupError:
                    raise OptionError(f"option {opt['name']!r}: no channel {value!r}.") from None
                types = opt.get("channel_types")
                if types and channel.type not in types:
                    raise OptionError(
                        f"option {opt['name']!r}: channel type {channel.type} not in {types}."
                    )
                data = channel.payload()
                data["permissions"] = str(perm.ALL_PERMISSIONS)
                return str(channel.id), {"channels": {str(channel.id): data}}
            if otype == ATTACHMENT:
                if isinstance(value, dict):
                    filename, blob = value["filename"], value["data"]
                else:
                    filename, blob = value
                if isinstance(blob, str):
                    blob = blob.encode()
                aid = self.ids.next()
                upload = IncomingFile(0, filename, bytes(blob))
                self.attachments[aid] = Upload(filename, upload.data, 0)
                data = messages.attachment_payload(aid, upload, self.base_url, None)
                return str(aid), {"attachments": {str(aid): data}}
            raise OptionError(f"option {opt['name']!r}: cannot resolve {value!r}.")

        return resolve

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

    def _new_record(
        self, itype: int, guild: Guild, channel: Channel, member: Member, data: dict[str, Any]
    ) -> InteractionRecord:
        iid = self.ids.next()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
            "channel_id": str(channel.id),
            "channel": channel.payload(),
            "member": member.payload(with_permissions=True),
            "token": token,
            "version": 1,
            "app_permissions": str(guild.app_permissions),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": limits.ATTACHMENT_SIZE_LIMIT,
        }
        rec = InteractionRecord(self, iid, token, itype, payload, created_at=self.clock.now())
        return rec

    def open_interaction(
        self,
        itype: int = APPLICATION_COMMAND,
        data: dict[str, Any] | None = None,
        *,
        member: Member | str | int | None = None,
        channel: Channel | str | int | None = None,
        guild: Guild | str | int | None = None,
    ) -> InteractionRecord:
        """Register an interaction without dispatching it, to test the REST side directly."""
        g, ch, m = self._where(guild, channel, member)
        rec = self._new_record(itype, g, ch, m, data or {"id": "0", "name": "direct", "type": 1})
        self.interactions[rec.id] = rec
        self.interactions_by_token[rec.token] = rec
        return rec

    async def _send(self, rec: InteractionRecord, guild: Guild) -> InteractionRecord:
        session = self._session_for(guild)
        self.interactions[rec.id] = rec
        self.interactions_by_token[rec.token] = rec
        rec.created_at = self.clock.now()
        await session.dispatch("INTERACTION_CREATE", rec.payload)
        return rec

    # ----------------------------------------------------------- injection
    async def slash(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        /,
        *,
        member: Member | str | int | None = None,
        channel: Channel | str | int | None = None,
        guild: Guild | str | int | None = None,
        **more_options: Any,
    ) -> InteractionRecord:
        """Run `/name [group] [sub]` with options, type-checked against the synced definition.

        Options go in the `options` dict or as keywords; use the dict for options
        named like this method's keywords (member, channel, guild).
        """
        g, ch, m = self._where(guild, channel, member)
        words = name.strip().lstrip("/").split()
        definition, scoped = self._find_command(words[0], g, 1)
        self._can_see(definition, m)
        values = {**(options or {}), **more_options}
        opts, resolved = build_options(definition, words[1:], values, self._resolver(g))
        data: dict[str, Any] = {
            "id": definition["id"],
            "name": definition["name"],
            "type": 1,
            "options": opts,
        }
        if resolved:
            data["resolved"] = resolved
        if scoped:
            data["guild_id"] = str(g.id)
        rec = self._new_record(APPLICATION_COMMAND, g, ch, m, data)
        return await self._send(rec, g)

    async def autocomplete(
        self,
        name: str,
        focused: str,
        value: str = "",
        options: dict[str, Any] | None = None,
        *,
        member: Member | str | int | None = None,
        channel: Channel | str | int | None = None,
        guild: Guild | str | int | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """Type `value` into option `focused` of `/name`; return the bot's choices."""
        rec = await self.autocomplete_record(
            name, focused, value, options, member=member, channel=channel, guild=guild
        )
        await rec.wait_for(lambda r: r.choices is not None or bool(r.rejections), timeout)
        if rec.choices is None:
            raise AssertionError(f"autocomplete was refused: {rec.rejections}")
        return rec.choices

    async def autocomplete_record(
        self,
        name: str,
        focused: str,
        value: str = "",
        options: dict[str, Any] | None = None,
        *,
        member: Member | str | int | None = None,
        channel: Channel | str | int | None = None,
        guild: Guild | str | int | None = None,
    ) -> InteractionRecord:
        """Like `autocomplete`, but return the record without waiting."""
        g, ch, m = self._where(guild, channel, member)
        words = name.strip().lstrip("/").split()
        definition, scoped = self._find_command(words[0], g, 1)
        values = {**(options or {}), focused: value}
        opts, resolved = build_options(
            definition, words[1:], values, self._resolver(g), focused=focused
        )
        data: dict[str, Any] = {
            "id": definition["id"],
            "name": definition["name"],
            "type": 1,
            "options": opts,
        }
        if resolved:
            data["resolved"] = resolved
        if scoped:
            data["guild_id"] = str(g.id)
        rec = self._new_record(AUTOCOMPLETE, g, ch, m, data)
        return await self._send(rec, g)

    def _focused_option(self, rec: InteractionRecord) -> dict[str, Any] | None:
        """The definition of the option being autocompleted in `rec`."""
        data = rec.payload.get("data") or {}
        guild = self.world.guild(int(rec.payload["guild_id"]))
        definition, _ = self._find_command(data["name"], guild, 1)
        options, defs = data.get("options") or [], definition.get("options") or []
        while options and options[0].get("type") in (1, 2):
            sub = options[0]
            defs = next(d for d in defs if d["name"] == sub["name"]).get("options") or []
            options = sub.get("options") or []
        focused = next((o for o in options if o.get("focused")), None)
        if focused is None:
            return None
        return next((d for d in defs if d["name"] == focused["name"]), None)

    async def context_menu(
        self,
        name: str,
        target: MessageRef | Member,
        *,
        member: Member | str | int | None = None,
        channel: Channel | str | int | None = None,
        guild: Guild | str | int | None = None,
    ) -> InteractionRecord:
        """Use a message command on a message, or a user command on a member."""
        if isinstance(target, Member):
            g, ch, m = self._where(guild or target.guild, channel, member)
            definition, scoped = self._find_command(name, g, 2)
            data_member = target.payload(with_permissions=True)
            user = data_member.pop("user")
            resolved = {"users": {str(target.id): user}, "members": {str(target.id): data_member}}
            target_id = str(target.id)
        else:
            msg = self._message(target)
            target_channel = self.world.channels[int(msg["channel_id"])]
            g, ch, m = self._where(guild or target_channel.guild, channel or target_channel, member)
            definition, scoped = self._find_command(name, g, 3)
            resolved = {"messages": {msg["id"]: copy.deepcopy(msg)}}
            target_id = msg["id"]
        self._can_see(definition, m)
        data: dict[str, Any] = {
            "id": definition["id"],
            "name": definition["name"],
            "type": definition["type"],
            "target_id": target_id,
            "resolved": resolved,
        }
        if scoped:
            data["guild_id"] = str(g.id)
        rec = self._new_record(APPLICATION_COMMAND, g, ch, m, data)
        return await self._send(rec, g)

    def _message(self, ref: MessageRef) -> dict[str, Any]:
        mid = int(ref["id"]) if isinstance(ref, dict) else int(ref)
        msg = self.messages.get(mid)
        if msg is None:
            raise LookupError(f"no message {mid} (was it deleted?)")
        return msg

    def _clicker(
        self, msg: dict[str, Any], member: Member | str | int | None
    ) -> tuple[Guild, Channel, Member]:
        channel = self.world.channels[int(msg["channel_id"])]
        if member is None and msg.get("interaction_metadata"):
            member = int(msg["interaction_metadata"]["user"]["id"])
        return self._where(channel.guild, channel, member)

    @staticmethod
    def _components(msg: dict[str, Any]) -> list[dict[str, Any]]:
        return [c for row in msg.get("components") or [] for c in row.get("components") or []]

    async def click(
        self,
        message: MessageRef,
        label: str | None = None,
        custom_id: str | None = None,
        *,
        member: Member | str | int | None = None,
    ) -> InteractionRecord:
        """Click a button (by label or custom_id) on the message's current version."""
        msg = self._message(message)
        buttons = [c for c in self._components(msg) if c.get("type") == 2]
        found = [
            b
            for b in buttons
            if (label is not None and b.get("label") == label)
            or (custom_id is not None and b.get("custom_id") == custom_id)
        ]
        if not found:
            labels = ", ".join(repr(b.get("label")) for b in buttons) or "none"
            raise ComponentError(
                f"no button {label or custom_id!r} on message {msg['id']} (buttons: {labels})"
            )
        button = found[0]
        if button.get("disabled"):
            raise ComponentError(f"button {label or custom_id!r} is disabled")
        if button.get("style") in (5, 6):
            raise ComponentError(f"button {label or custom_id!r} is a link or premium button")
        g, ch, m = self._clicker(msg, member)
        data = {"custom_id": button["custom_id"], "component_type": 2}
        rec = self._new_record(COMPONENT, g, ch, m, data)
        rec.payload["message"] = copy.deepcopy(msg)
        rec.source_message_id = int(msg["id"])
        return await self._send(rec, g)

    async def select(
        self,
        message: MessageRef,
        values: list[str],
        custom_id: str | None = None,
        *,
        member: Member | str | int | None = None,
    ) -> InteractionRecord:
        """Choose `values` in a string select (the first one, or the one with `custom_id`)."""
        msg = self._message(message)
        selects = [c for c in self._components(msg) if c.get("type") == 3]
        select = next((s for s in selects if custom_id in (None, s.get("custom_id"))), None)
        if select is None:
            raise ComponentError(f"no select {custom_id!r} on message {msg['id']}")
        allowed = {o["value"] for o in select.get("options") or []}
        lo, hi = select.get("min_values", 1), select.get("max_values", 1)
        if not set(values) <= allowed or not lo <= len(values) <= hi:
            raise ComponentError(
                f"values {values} not allowed (options {sorted(allowed)}, {lo}–{hi} picks)"
            )
        g, ch, m = self._clicker(msg, member)
        data = {"custom_id": select["custom_id"], "component_type": 3, "values": list(values)}
        rec = self._new_record(COMPONENT, g, ch, m, data)
        rec.payload["message"] = copy.deepcopy(msg)
        rec.source_message_id = int(msg["id"])
        return await self._send(rec, g)

    async def submit_modal(
        self,
        rec: InteractionRecord,
        values: dict[str, str],
        *,
        member: Member | str | int | None = None,
    ) -> InteractionRecord:
        """Fill in and submit the modal the bot opened on `rec` (values by custom_id or label)."""
        modal = rec.modal
        if modal is None:
            raise ComponentError(f"interaction {rec.name!r} did not open a modal")
        unknown = set(values) - {
            key
            for item in limits.modal_inputs(modal["components"])
            for key in (item.get("custom_id"), item.get("label"))
        }
        if unknown:
            raise ComponentError(f"modal {modal.get('title')!r} has no field {sorted(unknown)}")

        def fill(item: dict[str, Any]) -> dict[str, Any]:
            by_label = values.get(str(item.get("label") or ""), str(item.get("value") or ""))
            value = values.get(str(item.get("custom_id")), by_label)
            if item.get("required", True) and not value:
                raise ComponentError(
                    f"modal field {item.get('label') or item.get('custom_id')!r} is required"
                )
            lo, hi = item.get("min_length"), item.get("max_length")
            if value and (
                (lo is not None and len(value) < lo) or (hi is not None and len(value) > hi)
            ):
                raise ComponentError(
                    f"modal field {item.get('custom_id')!r}: length must be {lo}–{hi}"
                )
            return {"type": 4, "custom_id": item["custom_id"], "value": value}

        components = []
        for comp in modal["components"]:
            if comp.get("type") == 1:
                components.append(
                    {
                        "type": 1,
                        "components": [fill(c) for c in comp["components"] if c.get("type") == 4],
                    }
                )
            elif comp.get("type") == 18 and (comp.get("component") or {}).get("type") == 4:
                components.append({"type": 18, "component": fill(comp["component"])})
        guild = self.world.guild(int(rec.payload["guild_id"]))
        channel = self.world.channels[int(rec.payload["channel_id"])]
        who = member if member is not None else int(rec.payload["member"]["user"]["id"])
        g, ch, m = self._where(guild, channel, who)
        new = self._new_record(
            MODAL_SUBMIT, g, ch, m, {"custom_id": modal["custom_id"], "components": components}
        )
        if rec.source_message_id is not None:
            new.payload["message"] = copy.deepcopy(self.messages.get(rec.source_message_id))
            new.source_message_id = rec.source_message_id
        return await self._send(new, g)

    async def post_message(
        self,
        channel: Channel | str | int | None = None,
        member: Member | str | int | None = None,
        content: str = "",
        *,
        guild: Guild | str | int | None = None,
    ) -> dict[str, Any]:
        """A user posts `content` in a channel (e.g. as a target for a message command)."""
        _, ch, m = self._where(guild, channel, member)
        author = m.user.payload()
        return await self._create_message_async(ch, author, {"content": content}, [], member=m)

    # -------------------------------------------------- message lifecycle
    def _lookup_user(self, uid: int) -> dict[str, Any] | None:
        user = self.world.user_by_id(uid)
        return None if user is None else user.payload()

    def _attach(
        self,
        message: dict[str, Any],
        body: dict[str, Any],
        files: list[IncomingFile],
        rec: InteractionRecord | None,
    ) -> None:
        uploads = {f.index: f for f in files}
        existing = {a["id"]: a for a in message.get("attachments") or []}
        new_list: list[dict[str, Any]] = []
        described = body.get("attachments")
        if described is None:
            described = [{"id": f.index} for f in files] if files else None
        if described is None:
            return
        for item in described:
            key = str(item.get("id"))
            if key in existing:
                new_list.append(existing[key])
                continue
            upload = uploads.get(int(key)) if key.isdigit() and int(key) in uploads else None
            if upload is None:
                continue
            aid = self.ids.next()
            stored = Upload(upload.filename, upload.data, int(message["id"]))
            self.attachments[aid] = stored
            if rec is not None:
                rec.files.append(stored)
            new_list.append(
                messages.attachment_payload(aid, upload, self.base_url, item.get("description"))
            )
        message["attachments"] = new_list

    def _create_message(
        self,
        channel: Channel,
        author: dict[str, Any],
        body: dict[str, Any],
        files: list[IncomingFile],
        *,
        flags: int = 0,
        rec: InteractionRecord | None = None,
        member: Member | None = None,
    ) -> dict[str, Any]:
        message_type = messages.DEFAULT
        metadata = None
        if rec is not None:
            data = rec.payload.get("data") or {}
            if rec.type == APPLICATION_COMMAND:
                message_type = (
                    messages.CHAT_INPUT_COMMAND
                    if data.get("type", 1) == 1
                    else messages.CONTEXT_MENU_COMMAND
                )
            metadata = {
                "id": str(rec.id),
                "type": rec.type,
                "user": rec.payload["member"]["user"],
                "authorizing_integration_owners": rec.payload["authorizing_integration_owners"],
            }
        message = messages.new_message(
            message_id=self.ids.next(),
            channel_id=channel.id,
            guild_id=channel.guild.id,
            author=author,
            message_type=message_type,
            flags=flags
            | (
                int(body.get("flags") or 0)
                & (limits.SUPPRESS_EMBEDS | limits.SUPPRESS_NOTIFICATIONS)
            ),
            application_id=self.application_id if rec is not None else None,
            webhook_id=self.application_id if rec is not None else None,
            interaction_metadata=metadata,
        )
        if member is not None:
            message["member"] = {k: v for k, v in member.payload().items() if k != "user"}
        messages.apply_body(message, body, self._lookup_user)
        self._attach(message, body, files, rec)
        self.messages[int(message["id"])] = message
        if not flags & limits.EPHEMERAL:
            channel.messages.append(message)
            self._announce(channel, message)
        if rec is not None:
            rec.history.append(HistoryEntry("create", copy.deepcopy(message)))
            rec._notify()
        return message

    async def _create_message_async(
        self,
        channel: Channel,
        author: dict[str, Any],
        body: dict[str, Any],
        files: list[IncomingFile],
        member: Member | None = None,
    ) -> dict[str, Any]:
        message = self._create_message(channel, author, body, files, member=member)
        await asyncio.sleep(0)
        return copy.deepcopy(message)

    def _announce(self, channel: Channel, message: dict[str, Any]) -> None:
        """MESSAGE_CREATE to the shard owning the guild, if it asked for guild messages."""
        for session in self.sessions:
            if (
                session.identified.is_set()
                and session.owns(channel.guild)
                and session.intents & INTENT_GUILD_MESSAGES
            ):
                task = asyncio.ensure_future(
                    session.dispatch(
                        "MESSAGE_CREATE", dict(message, guild_id=str(channel.guild.id))
                    )
                )
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    @property
    def _background(self) -> set[asyncio.Future[Any]]:
        if not hasattr(self, "_tasks"):
            self._tasks: set[asyncio.Future[Any]] = set()
        return self._tasks

    def _edit_message(
        self,
        message: dict[str, Any],
        body: dict[str, Any],
        files: list[IncomingFile],
        *,
        rec: InteractionRecord | None = None,
    ) -> dict[str, Any]:
        messages.apply_body(message, body, self._lookup_user)
        self._attach(message, body, files, rec)
        message["flags"] = int(message.get("flags") or 0) & ~limits.LOADING
        message["edited_timestamp"] = messages.iso_now()
        if rec is not None:
            rec.history.append(HistoryEntry("edit", copy.deepcopy(message)))
            rec._notify()
        return copy.deepcopy(message)

    def _delete_message(
        self, message: dict[str, Any], *, rec: InteractionRecord | None = None
    ) -> None:
        mid = int(message["id"])
        self.messages.pop(mid, None)
        channel = self.world.channels.get(int(message["channel_id"]))
        if channel is not None and message in channel.messages:
            channel.messages.remove(message)
        if rec is not None:
            rec.history.append(HistoryEntry("delete", copy.deepcopy(message)))
            rec._notify()

    def _bot_author(self) -> dict[str, Any]:
        assert self.world.bot_user is not None
        return self.world.bot_user.payload()

    def _apply_callback(
        self, rec: InteractionRecord, ctype: int, data: dict[str, Any], files: list[IncomingFile]
    ) -> dict[str, Any] | None:
        """Record an accepted callback and create or edit the message it implies."""
        channel = self.world.channels[int(rec.payload["channel_id"])]
        message: dict[str, Any] | None = None
        record = {"type": ctype, "data": copy.deepcopy(data), "files": [f.filename for f in files]}
        if ctype == 4:
            flags = int(data.get("flags") or 0) & limits.EPHEMERAL
            message = self._create_message(
                channel, self._bot_author(), data, files, flags=flags, rec=rec
            )
            rec.original_id = int(message["id"])
        elif ctype == 5:
            flags = (int(data.get("flags") or 0) & limits.EPHEMERAL) | limits.LOADING
            message = self._create_message(
                channel, self._bot_author(), {}, [], flags=flags, rec=rec
            )
            rec.original_id = int(message["id"])
        elif ctype in (6, 7) and rec.source_message_id is not None:
            rec.original_id = rec.source_message_id
            source = self.messages.get(rec.source_message_id)
            if ctype == 7 and source is not None:
                self._edit_message(source, data, files, rec=rec)
            message = self.messages.get(rec.source_message_id)
        rec.callbacks.append(record)
        rec._notify()
        return copy.deepcopy(message) if message is not None else None

    def _followup(
        self, rec: InteractionRecord, body: dict[str, Any], files: list[IncomingFile]
    ) -> dict[str, Any]:
        """A followup; after a type-5 defer the first one replaces the "thinking…" message."""
        original = rec.original
        if (
            rec.response_type == 5
            and original is not None
            and int(original.get("flags") or 0) & limits.LOADING
            and not rec.followup_ids
        ):
            return self._edit_message(original, body, files, rec=rec)
        channel = self.world.channels[int(rec.payload["channel_id"])]
        flags = int(body.get("flags") or 0) & limits.EPHEMERAL
        message = self._create_message(
            channel, self._bot_author(), body, files, flags=flags, rec=rec
        )
        rec.followup_ids.append(int(message["id"]))
        return copy.deepcopy(message)

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


def now_ms() -> int:
    return int(time.time() * 1000)
