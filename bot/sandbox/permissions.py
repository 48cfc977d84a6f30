"""Discord permission bits and how a member's permissions follow from their roles."""

from __future__ import annotations

CREATE_INSTANT_INVITE = 1 << 0
KICK_MEMBERS = 1 << 1
BAN_MEMBERS = 1 << 2
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_AUDIT_LOG = 1 << 7
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
CHANGE_NICKNAME = 1 << 26
MANAGE_ROLES = 1 << 28
MANAGE_WEBHOOKS = 1 << 29
USE_APPLICATION_COMMANDS = 1 << 31
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38
MODERATE_MEMBERS = 1 << 40

# Every bit Discord defines today (up to 1 << 50); Administrator grants them all.
ALL_PERMISSIONS = (1 << 51) - 1

# What @everyone gets in a new Discord server, roughly.
DEFAULT_EVERYONE = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | CREATE_PRIVATE_THREADS
    | SEND_MESSAGES_IN_THREADS
)

# The bot's own integration role: enough to answer and post.
DEFAULT_BOT_ROLE = (
    VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY | ADD_REACTIONS
)


def effective_permissions(role_permissions: list[int], *, is_owner: bool = False) -> int:
    """Guild-level permissions from @everyone plus the member's roles.

    Administrator (and ownership) implies every permission, as in Discord.
    """
    value = 0
    for perms in role_permissions:
        value |= perms
    if is_owner or value & ADMINISTRATOR:
        return ALL_PERMISSIONS
    return value


def apply_overwrites(
    base: int,
    everyone: tuple[int, int] | None,
    roles: list[tuple[int, int]],
    member: tuple[int, int] | None,
) -> int:
    """Channel permissions from guild permissions and (allow, deny) overwrites, Discord's order:
    @everyone, then all of the member's roles together, then the member's own overwrite.
    """
    if base & ADMINISTRATOR:
        return ALL_PERMISSIONS
    value = base
    if everyone is not None:
        value = (value & ~everyone[1]) | everyone[0]
    deny = allow = 0
    for role_allow, role_deny in roles:
        allow |= role_allow
        deny |= role_deny
    value = (value & ~deny) | allow
    if member is not None:
        value = (value & ~member[1]) | member[0]
    return value
