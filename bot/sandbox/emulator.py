"""FakeDiscord: a local Discord (REST v10 + gateway) with an injection API for tests.

It is assembled from parts that share one `EmulatorState`:

    state      the world, commands, sessions, clock, limits and records   state.py
    gateway    websocket sessions, events to the shard owning a guild      gateway.py
    lifecycle  messages created, edited and deleted                        lifecycle.py
    REST       the routes discord.py calls, bodies checked                 rest*.py
    injection  what a user does: commands, clicks, forms, messages         injection.py
    automod    what an admin does to AutoMod rules, and its events          automod.py
"""

from __future__ import annotations

import asyncio
from typing import Any, Generic, TypeVar, overload

from aiohttp import web

from bot.sandbox.automod import AutoMod
from bot.sandbox.clock import FakeClock
from bot.sandbox.commands import UnknownCommand
from bot.sandbox.components import ComponentError
from bot.sandbox.gateway import Gateway, GatewaySession
from bot.sandbox.injection import Injection
from bot.sandbox.interactions import InteractionRecord, Upload
from bot.sandbox.lifecycle import MessageLifecycle
from bot.sandbox.rate_limits import RateLimitInjection, RateLimits
from bot.sandbox.rest import setup_routes
from bot.sandbox.state import EmulatorState, GuildRef
from bot.sandbox.world import Guild, World

__all__ = ["ComponentError", "FakeDiscord", "RateLimitInjection", "UnknownCommand"]

T = TypeVar("T")


class _Shared(Generic[T]):
    """A FakeDiscord attribute that is the state's attribute of the same name."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> _Shared[T]: ...
    @overload
    def __get__(self, obj: FakeDiscord, objtype: type | None = None) -> T: ...
    def __get__(self, obj: FakeDiscord | None, objtype: type | None = None) -> Any:
        return self if obj is None else getattr(obj.state, self.name)

    def __set__(self, obj: FakeDiscord, value: T) -> None:
        setattr(obj.state, self.name, value)


class FakeDiscord:
    """A Discord the real discord.py client connects to over loopback.

    Start it, point the bot at `api_base` and `gateway_url`, then drive it with
    `slash`, `click`, `select`, `submit_modal`, `autocomplete`, `context_menu`
    and `post_message`, and read the bot's answers from the returned records.
    The state's world and records are readable here too (`world`, `messages`,
    `rejections`, …). The constructor takes `EmulatorState`'s options and where to listen.
    """

    world = _Shared[World]()
    clock = _Shared[FakeClock]()
    application_id = _Shared[int]()
    bot_token = _Shared[str | None]()
    enforce_default_permissions = _Shared[bool]()
    response_window = _Shared[float]()
    token_lifetime = _Shared[float]()
    messages = _Shared[dict[int, dict[str, Any]]]()
    attachments = _Shared[dict[int, Upload]]()
    interactions = _Shared[dict[int, InteractionRecord]]()
    requests = _Shared[list[str]]()
    rate_limited = _Shared[list[str]]()
    unknown_routes = _Shared[list[str]]()
    rejections = _Shared[list[dict[str, Any]]]()
    sessions = _Shared[list[GatewaySession]]()
    identifies = _Shared[list[dict[str, Any]]]()
    identify_log = _Shared[list[tuple[float, int, int]]]()
    identify_refusals = _Shared[list[tuple[float, int, int]]]()
    resumes = _Shared[int]()
    connected = _Shared[asyncio.Event]()

    def __init__(
        self,
        *,
        bot_name: str = "Couplet",
        default_world: bool = True,
        response_window: float = 3.0,
        token_lifetime: float = 15 * 60.0,
        recommended_shards: int = 1,
        max_concurrency: int = 1,
        identify_interval: float | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.state = EmulatorState(
            bot_name=bot_name,
            default_world=default_world,
            response_window=response_window,
            token_lifetime=token_lifetime,
            recommended_shards=recommended_shards,
            max_concurrency=max_concurrency,
            identify_interval=identify_interval,
        )
        self.host, self._port = host, port
        self.gateway = Gateway(self.state)
        self.lifecycle = MessageLifecycle(self.state, self.gateway)
        self.injection = Injection(self.state, self.gateway, self.lifecycle)
        self.rate_limits = RateLimits(self.state)
        self.automod = AutoMod(self.state, self.gateway)
        self._runner: web.AppRunner | None = None
        # What a user does (see Injection).
        self.slash = self.injection.slash
        self.autocomplete = self.injection.autocomplete
        self.autocomplete_record = self.injection.autocomplete_record
        self.context_menu = self.injection.context_menu
        self.click = self.injection.click
        self.select = self.injection.select
        self.submit_modal = self.injection.submit_modal
        self.post_message = self.injection.post_message
        self.open_interaction = self.injection.open_interaction
        # Gateway events and connections (see Gateway).
        self.dispatch = self.gateway.dispatch
        self.drop_connections = self.gateway.drop_connections

    # -------------------------------------------------------------- server
    async def start(self) -> FakeDiscord:
        """Listen on a free loopback port (or the one given)."""
        app = web.Application(
            middlewares=[self.rate_limits.middleware], client_max_size=64 * 1024 * 1024
        )
        app.router.add_get("/gateway", self.gateway.serve)
        setup_routes(app, self.state, self.lifecycle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.state.base_url = f"http://{self.host}:{port}"
        return self

    async def stop(self) -> None:
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return self.state.base_url

    @property
    def api_base(self) -> str:
        return f"{self.state.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return self.state.gateway_url

    # ---------------------------------------------------------- world, commands
    @property
    def guild(self) -> Guild:
        """The first (default) guild."""
        return self.state.guild

    def add_guild(self, name: str) -> Guild:
        """A new server; the bot is a member with its integration role."""
        return self.state.world.add_guild(name)

    @property
    def commands_synced(self) -> asyncio.Event:
        """Set once the bot has synced commands (any bulk overwrite)."""
        return self.state.commands.synced

    def commands(self, guild: Guild | int | None = None) -> list[dict[str, Any]]:
        """The registered command definitions, global or for one guild."""
        gid = guild.id if isinstance(guild, Guild) else guild
        return self.state.commands.listed(None if gid is None else int(gid))

    def find_command(
        self, name: str, guild: GuildRef = None, ctype: int = 1
    ) -> tuple[dict[str, Any], bool]:
        """The synced definition a member of `guild` would see, and whether it is guild-scoped.

        Raises UnknownCommand if no such command was synced (globally or for that guild).
        """
        return self.state.commands.find(name, self.state.guild_of(guild), ctype)

    def inject_rate_limit(
        self,
        route_substring: str,
        retry_after: float = 0.1,
        *,
        count: int = 1,
        is_global: bool = False,
    ) -> RateLimitInjection:
        """Answer the next `count` API requests matching 'METHOD /path' substring with a 429."""
        return self.rate_limits.inject(route_substring, retry_after, count, is_global)
