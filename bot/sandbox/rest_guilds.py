"""REST routes of guilds a moderating bot calls: AutoMod rules and member timeouts.

Each checks the permission Discord checks: Manage Server to read AutoMod rules;
Moderate Members to time a member out, never the owner or an administrator,
and only a member whose highest role is below the bot's. Bodies are checked
against the spec, served rules against the spec's response schema. Of a
member edit only the timeout is applied (the bot changes nothing else).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from bot.sandbox import permissions as perm
from bot.sandbox.http_util import ApiError, json_response, read_body
from bot.sandbox.limits import FieldError
from bot.sandbox.openapi import check_response
from bot.sandbox.rest_common import body_errors, path_int, refuse, require_bot_auth
from bot.sandbox.state import EmulatorState
from bot.sandbox.world import Guild, Member

# Discord's longest timeout.
MAX_TIMEOUT = dt.timedelta(days=28)
UNKNOWN_GUILD, UNKNOWN_MEMBER, MISSING_PERMISSIONS = 10004, 10007, 50013


class GuildRoutes:
    """GET …/auto-moderation/rules and PATCH …/members/{user}."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", "/guilds/{guild}/auto-moderation/rules", self.list_automod_rules),
            ("PATCH", "/guilds/{guild}/members/{user}", self.modify_member),
        ]

    def _guild(self, request: web.Request) -> Guild:
        require_bot_auth(self.state, request)
        try:
            return self.state.world.guild(path_int(request, "guild"))
        except LookupError:
            raise ApiError(404, UNKNOWN_GUILD, "Unknown Guild") from None

    @staticmethod
    def _require(guild: Guild, bits: int) -> None:
        if guild.app_permissions & bits != bits:
            raise ApiError(403, MISSING_PERMISSIONS, "Missing Permissions")

    async def list_automod_rules(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        self._require(guild, perm.MANAGE_GUILD)
        rules = list(guild.automod_rules.values())
        problems = check_response("list_auto_moderation_rules", rules)
        if problems:  # the emulator's own payload is wrong: a bug here, not in the bot
            raise AssertionError(f"the emulator built AutoMod rules off the spec: {problems}")
        return json_response(rules)

    async def modify_member(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        try:
            member = guild.member(path_int(request, "user"))
        except LookupError:
            raise ApiError(404, UNKNOWN_MEMBER, "Unknown Member") from None
        body, _ = await read_body(request)
        errors = body_errors("modify_guild_member", body, lambda: _timeout_errors(body))
        if errors:
            refuse(self.state, None, errors, route=request.path)
        if "communication_disabled_until" in body:
            self._check_can_time_out(guild, member)
            member.communication_disabled_until = body["communication_disabled_until"]
        return json_response(member.payload())

    def _check_can_time_out(self, guild: Guild, member: Member) -> None:
        """Moderate Members, and a target that is neither owner, admin nor above the bot."""
        self._require(guild, perm.MODERATE_MEMBERS)
        bot = guild.bot_member
        assert bot is not None
        if (
            guild.owner_id == member.id
            or member.has(perm.ADMINISTRATOR)
            or member.top_position >= bot.top_position
        ):
            raise ApiError(403, MISSING_PERMISSIONS, "Missing Permissions")


def _timeout_errors(body: dict[str, Any]) -> list[FieldError]:
    """A timeout must be a date no more than 28 days ahead (or null to lift it)."""
    until = body.get("communication_disabled_until")
    if until is None:
        return []
    try:
        when = dt.datetime.fromisoformat(str(until))
    except ValueError:
        return [_bad_until("Could not parse the date.")]
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    if when - dt.datetime.now(dt.UTC) > MAX_TIMEOUT:
        return [_bad_until("A timeout can last at most 28 days.")]
    return []


def _bad_until(message: str) -> FieldError:
    return FieldError("communication_disabled_until", "BASE_TYPE_BAD_VALUE", message)
