"""The server's own Discord AutoMod keyword rules, applied by Couplet to generated text.

AutoMod does not act on messages bots send, so a server's keyword rules would
not hold for Couplet's replies unless Couplet applies them itself. Each
enabled KEYWORD rule that checks sent messages contributes its
`keyword_filter`, `regex_patterns` and `allow_list` (matched as in
`bot.moderation.matching`); its `exempt_roles` and `exempt_channels` apply to
the member who asked and the channel. Preset rules (Discord's own word lists)
are not exposed by the API and cannot be applied; /moderation show says so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.moderation.matching import Hit, InvalidPattern, Matcher, compile_regex

log = logging.getLogger(__name__)

KEYWORD = 1  # trigger_type
KEYWORD_PRESET = 4
MESSAGE_SEND = 1  # event_type


@dataclass(frozen=True)
class AutoModRule:
    """One AutoMod rule, as far as Couplet uses it."""

    id: int
    name: str
    trigger_type: int
    enabled: bool = True
    event_type: int = MESSAGE_SEND
    keyword_filter: tuple[str, ...] = ()
    regex_patterns: tuple[str, ...] = ()
    allow_list: tuple[str, ...] = ()
    exempt_roles: frozenset[int] = frozenset()
    exempt_channels: frozenset[int] = frozenset()

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> AutoModRule:
        """From Discord's rule object (REST or gateway JSON)."""
        meta = data.get("trigger_metadata") or {}
        return cls(
            id=int(data["id"]),
            name=str(data.get("name") or ""),
            trigger_type=int(data.get("trigger_type") or 0),
            enabled=bool(data.get("enabled", True)),
            event_type=int(data.get("event_type") or MESSAGE_SEND),
            keyword_filter=tuple(meta.get("keyword_filter") or ()),
            regex_patterns=tuple(meta.get("regex_patterns") or ()),
            allow_list=tuple(meta.get("allow_list") or ()),
            exempt_roles=frozenset(int(r) for r in data.get("exempt_roles") or ()),
            exempt_channels=frozenset(int(c) for c in data.get("exempt_channels") or ()),
        )

    @property
    def applies(self) -> bool:
        """An enabled keyword rule on sent messages: the kind Couplet applies."""
        return self.enabled and self.trigger_type == KEYWORD and self.event_type == MESSAGE_SEND


@dataclass(frozen=True)
class CompiledRule:
    rule: AutoModRule
    matcher: Matcher
    # Patterns Discord accepted that RE2 cannot run (shown by /moderation show).
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AutoModRules:
    """One server's AutoMod rules, compiled; `readable` is False without Manage Server."""

    rules: tuple[CompiledRule, ...] = ()
    presets: tuple[str, ...] = ()  # names of enabled preset rules (not applicable)
    readable: bool = True
    error: str | None = None  # the rules could not be read (other than permission)

    @classmethod
    def build(cls, rules: Iterable[AutoModRule]) -> AutoModRules:
        compiled, presets = [], []
        for rule in rules:
            if rule.enabled and rule.trigger_type == KEYWORD_PRESET:
                presets.append(rule.name)
            if not rule.applies:
                continue
            skipped = tuple(p for p in rule.regex_patterns if not _runs(p))
            matcher = Matcher.build(
                rule.keyword_filter, rule.regex_patterns, rule.allow_list, skip_invalid=True
            )
            if skipped:
                log.info("AutoMod rule %s: RE2 cannot run %d pattern(s)", rule.id, len(skipped))
            compiled.append(CompiledRule(rule, matcher, skipped))
        if not compiled and not presets:
            return NO_RULES  # most servers: one shared value, not one each
        return cls(tuple(compiled), tuple(presets))

    def hits(
        self, text: str, role_ids: Iterable[int] = (), channel_id: int | None = None
    ) -> list[tuple[AutoModRule, Hit]]:
        """Every match of every rule that applies to this member in this channel."""
        roles = set(role_ids)
        found: list[tuple[AutoModRule, Hit]] = []
        for compiled in self.rules:
            rule = compiled.rule
            if channel_id in rule.exempt_channels or roles & rule.exempt_roles:
                continue
            found.extend((rule, hit) for hit in compiled.matcher.hits(text))
        return found

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """(rule name, pattern) for each pattern that is not applied."""
        return [(c.rule.name, p) for c in self.rules for p in c.skipped]


# A server without rules that apply (most servers), and one whose rules the bot
# may not read (no Manage Server): one shared value each.
NO_RULES = AutoModRules()
UNREADABLE = AutoModRules(readable=False)


def _runs(pattern: str) -> bool:
    try:
        compile_regex(pattern)
    except InvalidPattern:
        return False
    return True
