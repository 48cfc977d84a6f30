"""A server's story settings (kept with its other settings, `/settings set`): who may
start stories, who moderates them, and how long a story may sit idle before it pauses.

- `story_starter_role`: a role; unset, anyone may start a story.
- `story_moderator_role`: a role; unset, members with Manage Messages moderate.
- `story_idle_minutes`: minutes without activity before an idle story pauses.
Members with Manage Server may always do both (so a server can't lock itself out).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.errors import ParameterError, show_value
from bot.i18n import _

STARTER_ROLE = "story_starter_role"
MODERATOR_ROLE = "story_moderator_role"
IDLE_MINUTES = "story_idle_minutes"
DEFAULT_IDLE_MINUTES = 24 * 60
IDLE_LOW, IDLE_HIGH = 5, 30 * 24 * 60

_ROLE = re.compile(r"<@&(\d{1,20})>|(\d{1,20})")
_DURATION = re.compile(r"(\d{1,6})\s*(m|min|minutes?|h|hours?|d|days?)?", re.IGNORECASE)
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 24 * 60}


@dataclass(frozen=True)
class StorySettings:
    """One server's story settings (the defaults where it set nothing)."""

    starter_role: int | None = None
    moderator_role: int | None = None
    idle_minutes: int = DEFAULT_IDLE_MINUTES


@dataclass(frozen=True)
class Member:
    """Who acts, where: their roles and the two permissions the rules look at."""

    user_id: int
    guild_id: int
    channel_id: int
    name: str = ""
    role_ids: tuple[int, ...] = ()
    manages_server: bool = False
    manages_messages: bool = False


def may_start(member: Member, settings: StorySettings) -> bool:
    """Anyone, unless the server names a starter role."""
    if settings.starter_role is None or member.manages_server:
        return True
    return settings.starter_role in member.role_ids


def is_moderator(member: Member, settings: StorySettings) -> bool:
    """The server's moderator role, else Manage Messages (and always Manage Server)."""
    if member.manages_server:
        return True
    if settings.moderator_role is None:
        return member.manages_messages
    return settings.moderator_role in member.role_ids


def parse_role(name: str) -> Any:
    """A parser for a role setting: a role mention (`@Role`, sent as `<@&id>`) or an id."""

    def parse(raw: str, config: object) -> int:
        match = _ROLE.fullmatch(raw.strip())
        if match is None:
            raise ParameterError(
                name,
                raw,
                _("a role (mention it) or a role id"),
                _(
                    "{name} {value} is not a role: mention the role (type @ and its name) "
                    "or give its id.",
                    name=name,
                    value=show_value(raw),
                ),
            )
        return int(match.group(1) or match.group(2))

    return parse


def role_mention(role_id: int) -> str:
    """A role as Discord shows it (replies never ping: allowed mentions are off)."""
    return f"<@&{role_id}>"


def parse_idle_minutes(raw: str, config: object) -> int:
    """Minutes, or a duration such as `90m`, `12h`, `2d`."""
    allowed = _("a duration from 5 minutes to 30 days (such as 90m, 12h or 2d)")
    match = _DURATION.fullmatch(raw.strip())
    if match is None:
        raise ParameterError(
            IDLE_MINUTES,
            raw,
            allowed,
            _(
                "{name} {value} is not a duration: use {allowed}.",
                name=IDLE_MINUTES,
                value=show_value(raw),
                allowed=allowed,
            ),
        )
    unit = (match.group(2) or "m")[0].lower()
    minutes = int(match.group(1)) * _UNIT_MINUTES[unit]
    if not IDLE_LOW <= minutes <= IDLE_HIGH:
        raise ParameterError(
            IDLE_MINUTES,
            raw,
            allowed,
            _(
                "{name} {value} is out of range: use {allowed}.",
                name=IDLE_MINUTES,
                value=show_value(raw),
                allowed=allowed,
            ),
        )
    return minutes
