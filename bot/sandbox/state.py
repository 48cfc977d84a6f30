"""The emulator's state, one object shared by its parts (REST, gateway, messages, injection).

It holds the world, the synced commands, the gateway sessions, the clock and
the limits in force, and the records tests read: messages, files,
interactions, requests and refusals. It only stores and looks up; the parts
decide what happens.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from bot.sandbox import permissions as perm
from bot.sandbox.clock import FakeClock
from bot.sandbox.commands import CommandRegistry
from bot.sandbox.interactions import InteractionRecord, Upload
from bot.sandbox.snowflakes import SnowflakeGenerator
from bot.sandbox.world import Channel, Guild, Member, World

if TYPE_CHECKING:
    from bot.sandbox.gateway import GatewaySession

MessageRef = dict[str, Any] | int | str
GuildRef = Guild | str | int | None
ChannelRef = Channel | str | int | None
MemberRef = Member | str | int | None


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
        max_concurrency: int = 1,
        identify_interval: float | None = None,
    ) -> None:
        self.ids = SnowflakeGenerator()
        self.world = World(self.ids)
        self.clock = FakeClock()
        # Limits in force: the first response's window and the interaction token's lifetime.
        self.response_window = response_window
        self.token_lifetime = token_lifetime
        self.recommended_shards = recommended_shards
        # Discord's session start limit: shards identify in max_concurrency buckets
        # (shard_id % max_concurrency), one per bucket every identify_interval
        # seconds when that is enforced (None: not checked).
        self.max_concurrency = max_concurrency
        self.identify_interval = identify_interval
        # Discord hides commands whose default_member_permissions the member lacks,
        # but server admins can override that per command, so runtime checks must
        # still be testable: hiding is opt-in.
        self.enforce_default_permissions = False
        self.application_id = self.ids.next()
        self.world.set_bot(bot_name)
        self.commands = CommandRegistry(self.ids, self.application_id)
        self.bot_token: str | None = None
        self.base_url = ""  # http://host:port once serving
        # Gateway
        self.sessions: list[GatewaySession] = []
        self.all_sessions: list[GatewaySession] = []
        self.identifies: list[dict[str, Any]] = []
        # (monotonic time, shard id, shard count) of each IDENTIFY accepted, and of each
        # refused for coming too soon after another in its bucket.
        self.identify_log: list[tuple[float, int, int]] = []
        self.identify_refusals: list[tuple[float, int, int]] = []
        self.resumes = 0
        self.connected = asyncio.Event()
        # Records
        self.messages: dict[int, dict[str, Any]] = {}
        self.attachments: dict[int, Upload] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self.interactions_by_token: dict[str, InteractionRecord] = {}
        self.requests: list[str] = []
        self.rate_limited: list[str] = []
        self.unknown_routes: list[str] = []
        # Bodies refused with a 400: the test fixtures fail on any the test did not expect.
        self.rejections: list[dict[str, Any]] = []
        if default_world:
            guild = self.world.add_guild("Test Server")
            guild.add_channel("general")
            guild.add_channel("random")
            guild.add_member("alice")
            guild.add_member("admin", roles=[guild.add_role("Admin", perm.ADMINISTRATOR)])
            guild.owner_id = self.world.user("owner").id
            guild.add_member("owner")

    @property
    def gateway_url(self) -> str:
        return f"{self.base_url.replace('http://', 'ws://')}/gateway"

    def bot_author(self) -> dict[str, Any]:
        """The bot's user payload, the author of what it sends."""
        assert self.world.bot_user is not None
        return self.world.bot_user.payload()

    def track(self, rec: InteractionRecord) -> None:
        """Make an interaction known to the REST side (by id and by token)."""
        self.interactions[rec.id] = rec
        self.interactions_by_token[rec.token] = rec

    # ----------------------------------------------------------- lookups
    @property
    def guild(self) -> Guild:
        """The first (default) guild."""
        return self.world.guilds[0]

    def guild_of(self, ref: GuildRef) -> Guild:
        """A guild by object, name or id; None is the default guild."""
        if isinstance(ref, Guild):
            return ref
        return self.guild if ref is None else self.world.guild(ref)

    @staticmethod
    def channel_in(guild: Guild, ref: ChannelRef) -> Channel:
        """A channel of `guild`; None is its first channel."""
        if isinstance(ref, Channel):
            return ref
        return guild.channels[0] if ref is None else guild.channel(ref)

    @staticmethod
    def member_in(guild: Guild, ref: MemberRef) -> Member:
        """A member of `guild`; None is its first member who is not a bot."""
        if isinstance(ref, Member):
            return ref
        if ref is None:
            return next(m for m in guild.members if not m.user.bot)
        return guild.member(ref)

    def where(
        self, guild: GuildRef, channel: ChannelRef, member: MemberRef
    ) -> tuple[Guild, Channel, Member]:
        """Guild, channel and member of an action; a Channel or Member object implies its guild."""
        if isinstance(channel, Channel) and guild is None:
            guild = channel.guild
        if isinstance(member, Member) and guild is None:
            guild = member.guild
        g = self.guild_of(guild)
        return g, self.channel_in(g, channel), self.member_in(g, member)

    def message(self, ref: MessageRef) -> dict[str, Any]:
        """A stored message by payload or id; LookupError if it is gone."""
        mid = int(ref["id"]) if isinstance(ref, dict) else int(ref)
        msg = self.messages.get(mid)
        if msg is None:
            raise LookupError(f"no message {mid} (was it deleted?)")
        return msg
