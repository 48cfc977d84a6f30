"""A server's moderation policy: an action per category, the failure mode, the
moderation channel and the word lists — with the defaults where nothing is set."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bot.errors import ParameterError
from bot.i18n import _
from bot.moderation.categories import (
    ACTIONS,
    CATEGORIES,
    DEFAULT_ACTIONS,
    DEFAULT_FAILURE_MODE,
    FAILURE_MODES,
    PROVIDER_CATEGORIES,
    Action,
    FailureMode,
)
from bot.moderation.matching import Matcher, check_keyword, compile_regex
from bot.storage.moderation import PolicyRecord, WordEntry

# Discord's limits for one keyword rule, kept for a server's own list.
MAX_KEYWORDS = 1000
MAX_REGEXES = 10
MAX_ALLOW = 100
LIMITS = {"keyword": MAX_KEYWORDS, "regex": MAX_REGEXES, "allow": MAX_ALLOW}


@dataclass(frozen=True, slots=True)
class Policy:
    """The effective policy of one server (defaults filled in), with its word lists compiled."""

    overrides: Mapping[str, Action] = field(default_factory=dict)
    failure_mode: FailureMode | None = None
    channel_id: int | None = None
    words: tuple[WordEntry, ...] = ()
    matcher: Matcher = field(default_factory=Matcher.build)

    @classmethod
    def from_record(cls, record: PolicyRecord, words: Iterable[WordEntry]) -> Policy:
        entries = tuple(words)
        overrides = {
            name: action  # type: ignore[misc]
            for name, action in record.actions.items()
            if name in DEFAULT_ACTIONS and action in ACTIONS
        }
        mode = record.on_failure if record.on_failure in FAILURE_MODES else None
        if not entries and not overrides and mode is None and record.channel_id is None:
            return DEFAULT_POLICY  # most servers: one shared value, not one each
        matcher = Matcher.build(
            [e.value for e in entries if e.kind == "keyword"],
            [e.value for e in entries if e.kind == "regex"],
            [e.value for e in entries if e.kind == "allow"],
            skip_invalid=True,  # stored entries were checked when added
        )
        return cls(
            MappingProxyType(overrides),
            mode,  # type: ignore[arg-type]
            record.channel_id,
            entries,
            matcher,
        )

    @property
    def on_failure(self) -> FailureMode:
        return self.failure_mode or DEFAULT_FAILURE_MODE

    def configured(self, category: str) -> Action:
        """The action set for a category (the server's, else the default)."""
        return self.overrides.get(category, DEFAULT_ACTIONS[category])

    def action(self, category: str, *, private: bool = False) -> Action:
        """The action taken: `hold` acts as `block` with no moderation channel, or for a
        private reply (which cannot be posted later)."""
        action = self.configured(category)
        if action == "hold" and (self.channel_id is None or private):
            return "block"
        return action

    def needs(self, provider: str) -> bool:
        """Whether any category of `provider` is not `allow` (else it need not run)."""
        return any(self.configured(c) != "allow" for c in PROVIDER_CATEGORIES[provider])

    def entries(self, kind: str) -> list[str]:
        return [e.value for e in self.words if e.kind == kind]


DEFAULT_POLICY = Policy()


def parse_category(raw: str) -> str:
    value = raw.strip().lower()
    if value not in CATEGORIES:
        raise ParameterError(
            "category",
            raw,
            ", ".join(CATEGORIES),
            _(
                "category {value} is not a moderation category: use one of {allowed}.",
                value=repr(raw),
                allowed=", ".join(CATEGORIES),
            ),
        )
    return value


def parse_action(raw: str) -> Action:
    value = raw.strip().lower()
    if value not in ACTIONS:
        raise ParameterError(
            "action",
            raw,
            ", ".join(ACTIONS),
            _("action {value} is not allowed: use allow, flag, hold or block.", value=repr(raw)),
        )
    return value  # type: ignore[return-value]


def parse_failure_mode(raw: str) -> FailureMode:
    value = raw.strip().lower()
    if value not in FAILURE_MODES:
        raise ParameterError(
            "on_failure",
            raw,
            "open or closed",
            _("on_failure {value} is not allowed: use open or closed.", value=repr(raw)),
        )
    return value  # type: ignore[return-value]


def split_entries(raw: str) -> list[str]:
    """Comma-separated list entries, as Discord's AutoMod editor takes them."""
    return [part.strip() for part in raw.split(",") if part.strip()]


def parse_words(keywords: str | None, allow: str | None, regex: str | None) -> list[WordEntry]:
    """New entries from `/moderation words`; InvalidPattern for one that can't be used."""
    entries = [WordEntry("keyword", check_keyword(k)) for k in split_entries(keywords or "")]
    entries += [WordEntry("allow", check_keyword(a)) for a in split_entries(allow or "")]
    if regex is not None:
        compile_regex(regex)
        entries.append(WordEntry("regex", regex))
    return entries
