"""The emulator's world: users, guilds, channels, roles and members, and their payloads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox import permissions as perm
from bot.sandbox.snowflakes import SnowflakeGenerator


def iso_now() -> str:
    """The current time as Discord formats timestamps."""
    return dt.datetime.now(dt.UTC).isoformat()


@dataclass
class User:
    """A Discord account (a person or the bot)."""

    id: int
    name: str
    bot: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.name,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }


@dataclass
class Role:
    """A guild role; `permissions` is the Discord bit field."""

    id: int
    name: str
    permissions: int = 0
    position: int = 0
    managed: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": self.managed,
            "mentionable": False,
            "flags": 0,
        }


@dataclass
class Channel:
    """A text channel (type 0) in a guild; `messages` holds its visible messages."""

    id: int
    name: str
    guild: Guild
    position: int = 0
    type: int = 0
    nsfw: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list, repr=False)
    # target id -> (allow, deny); the target is a role or a member, as in Discord.
    overwrites: dict[int, tuple[int, int]] = field(default_factory=dict)

    def set_permissions(self, target: Role | Member, *, allow: int = 0, deny: int = 0) -> None:
        """A permission overwrite for a role or a member in this channel."""
        self.overwrites[target.id] = (allow, deny)

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "name": self.name,
            "position": self.position,
            "guild_id": str(self.guild.id),
            "permission_overwrites": [
                {
                    "id": str(target),
                    "type": 0 if any(r.id == target for r in self.guild.roles) else 1,
                    "allow": str(allow),
                    "deny": str(deny),
                }
                for target, (allow, deny) in self.overwrites.items()
            ],
            "nsfw": self.nsfw,
            "topic": None,
            "last_message_id": self.messages[-1]["id"] if self.messages else None,
            "parent_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"


@dataclass
class Member:
    """A user's membership of one guild.

    `locale` is the language the member's Discord client is set to (a Discord
    locale code); it is sent as each interaction's `locale`.
    """

    user: User
    guild: Guild
    roles: list[Role] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=iso_now)
    locale: str = "en-US"
    # ISO timestamp until which the member is timed out (PATCH communication_disabled_until).
    communication_disabled_until: str | None = None

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def mention(self) -> str:
        return f"<@{self.user.id}>"

    @property
    def permissions(self) -> int:
        """Guild permissions computed from @everyone and the member's roles."""
        values = [self.guild.everyone.permissions] + [role.permissions for role in self.roles]
        return perm.effective_permissions(values, is_owner=self.guild.owner_id == self.user.id)

    def has(self, bits: int) -> bool:
        """Whether every bit in `bits` is granted."""
        return self.permissions & bits == bits

    @property
    def top_position(self) -> int:
        """The position of the member's highest role (0: @everyone only)."""
        return max((role.position for role in self.roles), default=0)

    def permissions_in(self, channel: Channel) -> int:
        """Permissions in one channel: guild permissions with the channel's overwrites."""
        return perm.apply_overwrites(
            self.permissions,
            channel.overwrites.get(self.guild.everyone.id),
            [channel.overwrites[r.id] for r in self.roles if r.id in channel.overwrites],
            channel.overwrites.get(self.user.id),
        )

    def payload(
        self, *, with_permissions: bool = False, channel: Channel | None = None
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "user": self.user.payload(),
            "roles": [str(role.id) for role in self.roles],
            "nick": self.nick,
            "avatar": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": self.communication_disabled_until,
        }
        if with_permissions:
            value = self.permissions if channel is None else self.permissions_in(channel)
            data["permissions"] = str(value)
        return data


class Guild:
    """A Discord server with its channels, roles and members."""

    def __init__(self, world: World, name: str) -> None:
        self.world = world
        self.id = world.ids.next()
        self.name = name
        self.owner_id: int | None = None
        # The server's language (Community settings); interactions carry it as guild_locale.
        self.preferred_locale = "en-US"
        # The @everyone role shares the guild's id, as in Discord.
        self.everyone = Role(self.id, "@everyone", perm.DEFAULT_EVERYONE, position=0)
        self.roles: list[Role] = [self.everyone]
        self.channels: list[Channel] = []
        self.members: list[Member] = []
        self.bot_role = self.add_role("Couplet", perm.DEFAULT_BOT_ROLE, managed=True)
        self.bot_member: Member | None = None
        # AutoMod rules by id, as Discord's rule objects (see bot/sandbox/automod.py).
        self.automod_rules: dict[int, dict[str, Any]] = {}
        if world.bot_user is not None:
            self._add_bot(world.bot_user)

    def __repr__(self) -> str:
        return f"<Guild {self.name!r} id={self.id}>"

    def _add_bot(self, user: User) -> None:
        self.bot_member = Member(user, self, [self.bot_role])
        self.members.append(self.bot_member)

    def add_channel(self, name: str) -> Channel:
        """Add a text channel."""
        channel = Channel(
            self.world.ids.next(), name.lstrip("#"), self, position=len(self.channels)
        )
        self.channels.append(channel)
        self.world.channels[channel.id] = channel
        return channel

    def add_role(self, name: str, permissions: int = 0, *, managed: bool = False) -> Role:
        """Add a role with the given permission bits."""
        role = Role(
            self.world.ids.next(), name, permissions, position=len(self.roles), managed=managed
        )
        self.roles.append(role)
        return role

    def add_member(
        self, name: str, roles: Iterable[Role] = (), permissions: int | None = None
    ) -> Member:
        """Add a member; `permissions`, if given, becomes a personal role with those bits.

        The same name in several guilds is the same user, as on Discord.
        """
        user = self.world.user(name)
        member_roles = list(roles)
        if permissions is not None:
            member_roles.append(self.add_role(f"{name} role", permissions))
        member = Member(user, self, member_roles)
        self.members.append(member)
        return member

    def channel(self, name_or_id: str | int) -> Channel:
        """A channel by name (with or without '#') or id."""
        for channel in self.channels:
            if channel.id == name_or_id or channel.name == str(name_or_id).lstrip("#"):
                return channel
        raise LookupError(f"guild {self.name!r} has no channel {name_or_id!r}")

    def member(self, name_or_id: str | int) -> Member:
        """A member by user name or id."""
        for member in self.members:
            if member.id == name_or_id or member.name == name_or_id:
                return member
        raise LookupError(f"guild {self.name!r} has no member {name_or_id!r}")

    def role(self, name_or_id: str | int) -> Role:
        """A role by name or id."""
        for role in self.roles:
            if role.id == name_or_id or role.name == name_or_id:
                return role
        raise LookupError(f"guild {self.name!r} has no role {name_or_id!r}")

    @property
    def app_permissions(self) -> int:
        """What the bot may do in this guild, from its roles."""
        if self.bot_member is None:
            return 0
        return self.bot_member.permissions

    def app_permissions_in(self, channel: Channel) -> int:
        """What the bot may do in one channel, with the channel's overwrites."""
        if self.bot_member is None:
            return 0
        return self.bot_member.permissions_in(channel)

    def payload(self) -> dict[str, Any]:
        """A GUILD_CREATE payload."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "owner_id": str(self.owner_id or 0),
            "unavailable": False,
            "member_count": len(self.members),
            "large": False,
            "features": [],
            "preferred_locale": self.preferred_locale,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "system_channel_id": None,
            "afk_channel_id": None,
            "roles": [role.payload() for role in self.roles],
            "channels": [channel.payload() for channel in self.channels],
            "members": [member.payload() for member in self.members],
            "threads": [],
            "emojis": [],
            "stickers": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "joined_at": iso_now(),
        }


class World:
    """Every guild and user the emulator knows."""

    def __init__(self, ids: SnowflakeGenerator) -> None:
        self.ids = ids
        self.users: dict[str, User] = {}
        self.guilds: list[Guild] = []
        self.channels: dict[int, Channel] = {}
        self.bot_user: User | None = None

    def set_bot(self, name: str) -> User:
        """Create the bot's user and make it a member of every guild."""
        self.bot_user = User(self.ids.next(), name, bot=True)
        for guild in self.guilds:
            guild._add_bot(self.bot_user)
        return self.bot_user

    def user(self, name: str) -> User:
        """The user with this name, created on first use."""
        if name not in self.users:
            self.users[name] = User(self.ids.next(), name)
        return self.users[name]

    def add_guild(self, name: str) -> Guild:
        guild = Guild(self, name)
        self.guilds.append(guild)
        return guild

    def guild(self, name_or_id: str | int) -> Guild:
        for guild in self.guilds:
            if guild.id == name_or_id or guild.name == name_or_id:
                return guild
        raise LookupError(f"no guild {name_or_id!r}")

    def user_by_id(self, user_id: int) -> User | None:
        if self.bot_user is not None and self.bot_user.id == user_id:
            return self.bot_user
        return next((u for u in self.users.values() if u.id == user_id), None)
