"""What each server keeps: parameter defaults, limits and behaviour.

`SETTINGS` is the one place where every setting, its default and its parser
live. `ServerSettingsService` reads through a per-server cache that each
committed write invalidates, and records every change in the audit log.
"""

from __future__ import annotations

import builtins
import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from bot.completions import (
    DEFAULT_SAMPLING,
    PARAMETERS,
    SAMPLING_MODES,
    SERVER_DEFAULT_PARAMS,
    CompletionRequest,
    ParamSpec,
    SamplingMode,
    parse_param,
)
from bot.completions.request import out_of_range
from bot.errors import ParameterError
from bot.i18n import SUPPORTED_LOCALES, Localized, Msg, _, join, normalize_locale
from bot.storage.audit import AuditRepository
from bot.storage.cache import GuildCache, frozen
from bot.storage.database import Database
from bot.storage.guild_settings import GuildSettingsRepository
from bot.storage.locks import guild_write
from bot.stories import settings as stories

log = logging.getLogger(__name__)

MAX_ALLOWED_MODELS = 25  # what one autocomplete answer can offer
MODEL_NAME_LENGTH = 100


@dataclass(frozen=True)
class Setting:
    """One server setting: its name, kind, default and how to read a typed value."""

    name: str
    kind: str  # "default" (a completion parameter), "limit" or "behaviour"
    description: Msg
    allowed: Localized
    default: Any
    parse: Callable[[str, ServerConfig], Any]
    # How a set value reads, when not as `format_value` writes values (a role: its mention).
    show: Callable[[Any], str] | None = None


def _show(raw: str) -> str:
    text = raw if len(raw) <= 40 else raw[:37] + "..."
    return repr(text)


def _param_parser(name: str) -> Callable[[str, ServerConfig], Any]:
    def parse(raw: str, config: ServerConfig) -> Any:
        value = parse_param(name, raw)[name]
        if name == "model":
            _check_allowed_model(value, config)
        return value

    return parse


def _check_allowed_model(model: str | None, config: ServerConfig) -> None:
    allowed = config.allowed_models
    if model is not None and allowed and model not in allowed:
        raise ParameterError(
            "model",
            model,
            join(allowed),
            _(
                "model {model} is not in this server's allowed_models: use one of "
                "{names}, or change allowed_models first.",
                model=repr(model),
                names=join(allowed),
            ),
        )


def _limit_parser(name: str, high: int, allowed: Msg) -> Callable[[str, ServerConfig], int]:

    def parse(raw: str, config: ServerConfig) -> int:
        text = raw.strip()
        try:
            value = int(text)
        except ValueError:
            raise ParameterError(
                name,
                raw,
                allowed,
                _(
                    "{param} {value} is not a whole number: use {allowed}.",
                    param=name,
                    value=_show(raw),
                    allowed=allowed,
                ),
            ) from None
        if not 1 <= value <= high:
            raise out_of_range(name, value, allowed)
        return value

    return parse


def _parse_clean_mode(raw: str, config: ServerConfig) -> str:
    value = raw.strip().lower()
    if value not in ("seed", "preserve"):
        raise ParameterError(
            "clean_mode",
            raw,
            _("seed or preserve"),
            _(
                "clean_mode {value} is not a cleaning mode: use seed (the original rule) "
                "or preserve (keep line breaks).",
                value=_show(raw),
            ),
        )
    return value


def _parse_sampling(raw: str, config: ServerConfig) -> str:
    value = raw.strip().lower()
    if value not in SAMPLING_MODES:
        raise ParameterError(
            "sampling",
            raw,
            _("api or server"),
            _(
                "sampling {value} is not a sampling mode: use api (only the API's samplers) "
                "or server (the backend's own samplers too).",
                value=_show(raw),
            ),
        )
    return value


def _parse_on_off(name: str) -> Callable[[str, ServerConfig], bool]:
    def parse(raw: str, config: ServerConfig) -> bool:
        try:
            return CompletionRequest.build(prompt="", stream=raw).stream
        except ParameterError:
            raise ParameterError(
                name,
                raw,
                _("on or off"),
                _(
                    "{name} {value} is not on or off: use on or off.",
                    name=name,
                    value=_show(raw),
                ),
            ) from None

    return parse


AUTO_LANGUAGE = "auto"
LANGUAGES = (AUTO_LANGUAGE, *SUPPORTED_LOCALES)


def _parse_language(raw: str, config: ServerConfig) -> str:
    """auto, or a supported locale (zh-CN; zh_CN, zh and en are read as theirs)."""
    if raw.strip().lower() == AUTO_LANGUAGE:
        return AUTO_LANGUAGE
    locale = normalize_locale(raw)
    if locale is None:
        raise ParameterError(
            "language",
            raw,
            join(LANGUAGES, "or"),
            _(
                "language {value} is not a language Couplet speaks: use {languages}.",
                value=_show(raw),
                languages=join(LANGUAGES, "or"),
            ),
        )
    return locale


def _parse_models(raw: str, config: ServerConfig) -> builtins.list[str]:
    names: builtins.list[str] = []
    for part in raw.replace("\n", ",").split(","):
        name = part.strip()
        if name and name not in names:
            names.append(name)
    allowed = _("1 to {count} model names separated by commas", count=MAX_ALLOWED_MODELS)
    if not names:
        raise ParameterError(
            "allowed_models",
            raw,
            allowed,
            _(
                "allowed_models {value} names no model: use {allowed}, "
                "or reset it to allow every model.",
                value=_show(raw),
                allowed=allowed,
            ),
        )
    if len(names) > MAX_ALLOWED_MODELS:
        raise ParameterError(
            "allowed_models",
            raw,
            allowed,
            _(
                "allowed_models lists {count} models: use {allowed}.",
                count=len(names),
                allowed=allowed,
            ),
        )
    for name in names:
        if len(name) > MODEL_NAME_LENGTH:
            raise ParameterError(
                "allowed_models",
                name,
                allowed,
                _(
                    "allowed_models has a name longer than {count} characters: {name}.",
                    count=MODEL_NAME_LENGTH,
                    name=_show(name),
                ),
            )
    return names


def _param(spec: ParamSpec) -> Setting:
    """A server default for a Completions parameter, as the parameter table defines it."""
    return Setting(
        spec.name, "default", spec.description, spec.allowed, None, _param_parser(spec.name)
    )


def _limit(name: str, description: Msg, default: int) -> Setting:
    """A cap on a parameter (max_tokens_limit caps max_tokens): 1 up to the parameter's top."""
    high = PARAMETERS[name.removesuffix("_limit")].high
    assert high is not None
    allowed = _("a whole number from {low} to {high}", low=1, high=high)
    return Setting(name, "limit", description, allowed, default, _limit_parser(name, high, allowed))


SETTINGS: Mapping[str, Setting] = MappingProxyType(
    {
        s.name: s
        for s in (
            *(_param(PARAMETERS[name]) for name in SERVER_DEFAULT_PARAMS),
            Setting(
                "clean_mode",
                "behaviour",
                _("How completion text is cleaned"),
                _("seed or preserve"),
                "preserve",
                _parse_clean_mode,
            ),
            Setting(
                "stream",
                "behaviour",
                _("Show text as it is generated"),
                _("on or off"),
                False,
                _parse_on_off("stream"),
            ),
            Setting(
                "limits_exempt_managers",
                "behaviour",
                _("Members with Manage Server skip the member usage limits"),
                _("on or off"),
                False,
                _parse_on_off("limits_exempt_managers"),
            ),
            Setting(
                "language",
                "behaviour",
                _("Language of public replies (auto: each member's own)"),
                join(LANGUAGES, "or"),
                AUTO_LANGUAGE,
                _parse_language,
            ),
            Setting(
                "sampling",
                "behaviour",
                _("api: sample as the API says; server: add the backend's own samplers"),
                _("api or server"),
                DEFAULT_SAMPLING,
                _parse_sampling,
            ),
            _limit("max_tokens_limit", _("The most max_tokens a member may ask for"), 1024),
            _limit("n_limit", _("The most completions (n) per request"), 4),
            _limit("best_of_limit", _("The most best_of candidates per request"), 8),
            Setting(
                "allowed_models",
                "limit",
                _("Models members may pick (empty: any)"),
                _("model names separated by commas"),
                (),
                _parse_models,
            ),
            # Group stories (bot/stories/settings.py).
            Setting(
                stories.STARTER_ROLE,
                "behaviour",
                _("Who may start stories (unset: anyone)"),
                _("a role"),
                None,
                stories.parse_role(stories.STARTER_ROLE),
                stories.role_mention,
            ),
            Setting(
                stories.MODERATOR_ROLE,
                "behaviour",
                _("Who moderates stories (unset: Manage Messages)"),
                _("a role"),
                None,
                stories.parse_role(stories.MODERATOR_ROLE),
                stories.role_mention,
            ),
            Setting(
                stories.IDLE_MINUTES,
                "behaviour",
                _("Minutes without activity before a story pauses"),
                _("5 minutes to 30 days (90m, 12h, 2d)"),
                stories.DEFAULT_IDLE_MINUTES,
                stories.parse_idle_minutes,
            ),
        )
    }
)

PARAMETER_SETTINGS = tuple(name for name, s in SETTINGS.items() if s.kind == "default")


def setting_names() -> builtins.list[str]:
    """Every setting name, in display order."""
    return list(SETTINGS)


def find_setting(name: str) -> Setting:
    """The setting called `name`, or a ParameterError listing the names."""
    key = name.strip().lower()
    try:
        return SETTINGS[key]
    except KeyError:
        raise ParameterError(
            "setting",
            name,
            join(SETTINGS),
            _(
                "There is no setting named {name}: use one of {names}.",
                name=_show(name),
                names=join(SETTINGS),
            ),
        ) from None


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """A server's settings: what it set explicitly, with defaults for the rest."""

    guild_id: int | None
    values: Mapping[str, Any] = field(default_factory=dict)

    def value(self, name: str) -> Any:
        """The setting's value, or its default when the server has not set it."""
        if name in self.values:
            return self.values[name]
        return SETTINGS[name].default

    def is_set(self, name: str) -> bool:
        return name in self.values

    def parameter_defaults(self) -> dict[str, Any]:
        """The completion parameters this server sets (its layer in the precedence)."""
        result: dict[str, Any] = {}
        for name in PARAMETER_SETTINGS:
            if name in self.values:
                result[name] = self.values[name]
        return result

    @property
    def max_tokens_limit(self) -> int:
        return int(self.value("max_tokens_limit"))

    @property
    def n_limit(self) -> int:
        return int(self.value("n_limit"))

    @property
    def best_of_limit(self) -> int:
        return int(self.value("best_of_limit"))

    @property
    def allowed_models(self) -> tuple[str, ...]:
        return tuple(self.value("allowed_models") or ())

    @property
    def clean_mode(self) -> str:
        return str(self.value("clean_mode"))

    @property
    def stream(self) -> bool:
        return bool(self.value("stream"))

    @property
    def limits_exempt_managers(self) -> bool:
        return bool(self.value("limits_exempt_managers"))

    @property
    def language(self) -> str:
        """auto (each member's own language) or the locale public messages are written in."""
        return str(self.value("language"))

    @property
    def sampling(self) -> SamplingMode:
        return "server" if self.value("sampling") == "server" else "api"


@dataclass(frozen=True)
class AuditRecord:
    """One change, for /settings history."""

    at: datetime
    actor_id: int
    action: str
    target: str
    old: Any
    new: Any

    def summary(self) -> Msg:
        """A short line such as "set temperature: 0.7 → 0.9" (a channel as a mention)."""
        old, new, target = _fmt(self.old), _fmt(self.new), self.target
        if self.action == "setting.set":
            return _("set {name}: {old} → {new}", name=target, old=old, new=new)
        if self.action == "setting.reset":
            return _("reset {name} (was {old})", name=target, old=old)
        if self.action == "preset.create":
            return _("created preset {name}", name=target)
        if self.action == "preset.delete":
            return _("deleted preset {name}", name=target)
        if self.action == "preset.edit":
            changes = sorted(set(self.old or {}) | set(self.new or {}))
            parts = [
                _(
                    "{param} {old} → {new}",
                    param=key,
                    old=_fmt((self.old or {}).get(key)),
                    new=_fmt((self.new or {}).get(key)),
                )
                for key in changes
            ]
            if not parts:
                return _("edited preset {name}: no change", name=target)
            return _("edited preset {name}: {changes}", name=target, changes=join(parts))
        if self.action in ("limit.set", "limit.role", "limit.reset"):
            name, _at, role = self.target.partition("@")
            if self.action == "limit.reset":
                if role:
                    return _(
                        "reset limit {name} for {role} (was {old})",
                        name=name,
                        role=f"<@&{role}>",
                        old=old,
                    )
                return _("reset limit {name} (was {old})", name=name, old=old)
            if role:
                return _(
                    "set limit {name} for {role}: {old} → {new}",
                    name=name,
                    role=f"<@&{role}>",
                    old=old,
                    new=new,
                )
            return _("set limit {name}: {old} → {new}", name=name, old=old, new=new)
        if self.action == "channel_preset.set":
            none = _("none")
            return _(
                "{channel} preset: {old} → {new}",
                channel=f"<#{target}>",
                old=self.old or none,
                new=self.new or none,
            )
        return _("{action} {name}", action=self.action, name=target)


def _fmt(value: Any) -> str | Localized:
    if value is None:
        return _("default")
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return join(repr(v) if isinstance(v, str) else str(v) for v in value)
    if isinstance(value, dict):
        return join(f"{k}={v}" for k, v in value.items())
    return str(value)


def format_value(value: Any, name: str | None = None) -> str | Localized:
    """A setting value as people read it (used by /settings show); `name`: the setting,
    for one that shows its values its own way."""
    setting = SETTINGS.get(name) if name is not None else None
    if setting is not None and setting.show is not None and value is not None:
        return setting.show(value)
    return _fmt(value)


class ServerSettingsService:
    """Per-server settings with a read-through cache and an audit trail."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.cache: GuildCache[ServerConfig] = GuildCache(self._load)

    async def _load(self, guild_id: int) -> ServerConfig:
        async with self.db.read() as session:
            values = await GuildSettingsRepository(session).all(guild_id)
        # Every server's names are the same few strings: share them.
        return ServerConfig(guild_id, frozen({sys.intern(k): v for k, v in values.items()}))

    async def get(self, guild_id: int | None) -> ServerConfig:
        """The server's settings (from the cache when nothing changed).

        `None` (a direct message) gives the bot defaults.
        """
        if guild_id is None:
            return ServerConfig(None)
        return await self.cache.get(guild_id)

    async def set(self, guild_id: int, name: str, value: str, actor_id: int) -> ServerConfig:
        """Parse `value` for setting `name`, store it and audit the change.

        Raises ParameterError (one sentence naming the setting, the value and
        what is allowed) for an unknown name or a bad value.
        """
        setting = find_setting(name)
        config = await self.get(guild_id)
        parsed = setting.parse(value, config)
        if parsed is None:
            raise ParameterError(
                setting.name,
                value,
                setting.allowed,
                _(
                    "{name} needs a value: use {allowed}, "
                    "or /settings reset {name} to go back to the default.",
                    name=setting.name,
                    allowed=setting.allowed,
                ),
            )
        async with guild_write(self.db, guild_id) as tx:
            old = await tx.settings.value(guild_id, setting.name)
            if old != parsed:
                await tx.settings.put(guild_id, setting.name, parsed, actor_id)
                tx.audit.record(guild_id, actor_id, "setting.set", setting.name, old, parsed)
        await self.cache.changed(guild_id)
        log.info("guild %s: %s set %s", guild_id, actor_id, setting.name)
        return await self.get(guild_id)

    async def reset(self, guild_id: int, name: str | None, actor_id: int) -> builtins.list[str]:
        """Back to the default: one setting, or every one when `name` is None.

        Returns the names that were reset (those the server had set).
        """
        names = [find_setting(name).name] if name is not None else None
        async with guild_write(self.db, guild_id) as tx:
            current = await tx.settings.all(guild_id)
            removed = [n for n in (names or list(current)) if n in current]
            if removed:
                await tx.settings.remove(guild_id, removed)
                for n in removed:
                    tx.audit.record(guild_id, actor_id, "setting.reset", n, current[n], None)
        await self.cache.changed(guild_id)
        return removed

    async def history(
        self, guild_id: int, limit: int = 10, *, prefix: str | None = None
    ) -> builtins.list[AuditRecord]:
        """The newest changes first: settings, presets and channel presets."""
        async with self.db.read() as session:
            rows = await AuditRepository(session).recent(guild_id, limit, prefix=prefix)
        return [AuditRecord(r.at, r.actor_id, r.action, r.target, r.old, r.new) for r in rows]
