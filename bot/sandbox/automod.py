"""AutoMod rules: what a server admin does in Server Settings → AutoMod, and the
events a bot gets about it.

Rules are stored on the guild as Discord's rule objects (checked against the
spec's response schema). Creating, changing or deleting one sends
AUTO_MODERATION_RULE_CREATE/UPDATE/DELETE to the shard owning the guild, if
it asked for the auto_moderation_configuration intent (bit 20) and the bot has
Manage Server there — Discord sends these events only to bots that do.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from bot.sandbox import permissions as perm
from bot.sandbox.gateway import Gateway
from bot.sandbox.openapi import check_body, check_response
from bot.sandbox.state import EmulatorState, GuildRef
from bot.sandbox.world import Guild

INTENT_AUTO_MODERATION_CONFIGURATION = 1 << 20
KEYWORD, KEYWORD_PRESET = 1, 4
BLOCK_MESSAGE = 1


class AutoMod:
    """Add, change and delete a guild's AutoMod rules, as an admin would."""

    def __init__(self, state: EmulatorState, gateway: Gateway) -> None:
        self.state = state
        self.gateway = gateway

    async def add_rule(
        self,
        name: str,
        *,
        keyword_filter: Iterable[str] = (),
        regex_patterns: Iterable[str] = (),
        allow_list: Iterable[str] = (),
        presets: Iterable[int] = (),
        trigger_type: int = KEYWORD,
        enabled: bool = True,
        exempt_roles: Iterable[int] = (),
        exempt_channels: Iterable[int] = (),
        guild: GuildRef = None,
    ) -> dict[str, Any]:
        """A new rule (a keyword rule unless `trigger_type` says otherwise); returns it."""
        g = self.state.guild_of(guild)
        metadata: dict[str, Any] = {"allow_list": list(allow_list)}
        if trigger_type == KEYWORD_PRESET:
            metadata["presets"] = list(presets)
        else:
            metadata["keyword_filter"] = list(keyword_filter)
            metadata["regex_patterns"] = list(regex_patterns)
        owner = g.owner_id or self.state.world.user("owner").id
        rule: dict[str, Any] = {
            "id": str(self.state.ids.next()),
            "guild_id": str(g.id),
            "name": name,
            "creator_id": str(owner),
            "event_type": 1,
            "trigger_type": trigger_type,
            "trigger_metadata": metadata,
            "actions": [{"type": BLOCK_MESSAGE, "metadata": {}}],
            "enabled": enabled,
            "exempt_roles": [str(r) for r in exempt_roles],
            "exempt_channels": [str(c) for c in exempt_channels],
        }
        _check(rule)
        g.automod_rules[int(rule["id"])] = rule
        await self._announce(g, "AUTO_MODERATION_RULE_CREATE", rule)
        return copy.deepcopy(rule)

    async def update_rule(
        self, rule_id: int | str, guild: GuildRef = None, **changes: Any
    ) -> dict[str, Any]:
        """Change a rule: top-level fields, or `keyword_filter`, `regex_patterns`, `allow_list`."""
        g = self.state.guild_of(guild)
        rule = g.automod_rules[int(rule_id)]
        updated = copy.deepcopy(rule)
        for key, value in changes.items():
            if key in ("keyword_filter", "regex_patterns", "allow_list", "presets"):
                updated["trigger_metadata"][key] = list(value)
            elif key in ("exempt_roles", "exempt_channels"):
                updated[key] = [str(v) for v in value]
            else:
                updated[key] = value
        _check(updated)
        g.automod_rules[int(rule_id)] = updated
        await self._announce(g, "AUTO_MODERATION_RULE_UPDATE", updated)
        return copy.deepcopy(updated)

    async def delete_rule(self, rule_id: int | str, guild: GuildRef = None) -> None:
        g = self.state.guild_of(guild)
        rule = g.automod_rules.pop(int(rule_id))
        await self._announce(g, "AUTO_MODERATION_RULE_DELETE", rule)

    async def _announce(self, guild: Guild, event: str, rule: dict[str, Any]) -> None:
        if not guild.app_permissions & perm.MANAGE_GUILD:
            return
        for session in self.state.sessions:
            if (
                session.live
                and session.owns(guild)
                and session.intents & INTENT_AUTO_MODERATION_CONFIGURATION
            ):
                await session.dispatch(event, copy.deepcopy(rule))


def _check(rule: dict[str, Any]) -> None:
    """A rule Discord would not have stored is a mistake in the test that made it:
    the admin's editor sends the create body (with the limits), Discord serves the rule."""
    body = {k: v for k, v in rule.items() if k not in ("id", "guild_id", "creator_id")}
    problems = check_body("create_auto_moderation_rule", body)
    problems += check_response("list_auto_moderation_rules", [rule])
    if problems:
        raise ValueError(f"Discord would refuse this AutoMod rule: {problems}")
