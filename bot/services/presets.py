"""Named presets of completion parameters, per server, and channel defaults.

Reads come from a per-server snapshot (every preset and channel default of
the server) cached until a committed write. Writes to one server are
serialised (see bot.storage.locks), and presets carry a version counter, so
concurrent edits never overwrite each other. The repository
(bot.storage.presets) owns the rows and raises the domain errors.
"""

from __future__ import annotations

import builtins
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.completions import PRESET_PARAMS, check_together, parse_params
from bot.errors import Conflict, ParameterError
from bot.i18n import _, join
from bot.storage.cache import EMPTY, GuildCache, frozen
from bot.storage.database import Database
from bot.storage.locks import guild_write
from bot.storage.models import DESCRIPTION_LENGTH, NAME_LENGTH
from bot.storage.presets import Preset, PresetRepository, preset_exists, preset_not_found

log = logging.getLogger(__name__)

MAX_PRESETS = 25  # per server; also the most choices one autocomplete answer can hold
NAME_PATTERN = re.compile(rf"[a-z0-9_-]{{1,{NAME_LENGTH}}}")
NAME_RULE = _("1 to {count} lowercase letters, digits, - and _", count=NAME_LENGTH)
# Attempts at a write that lost a race (a stale version, a unique-name clash).
WRITE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class GuildPresets:
    """Every preset and channel default of one server, as cached."""

    presets: Mapping[str, Preset] = field(default_factory=dict)
    channels: Mapping[int, str] = field(default_factory=dict)

    def get(self, name: str) -> Preset | None:
        return self.presets.get(name.strip().lower())

    def for_channel(self, channel_id: int) -> Preset | None:
        name = self.channels.get(channel_id)
        return self.presets.get(name) if name is not None else None


NO_PRESETS = GuildPresets(EMPTY, EMPTY)


def normalize_name(name: str) -> str:
    """Lowercase and strip a preset name, or raise ParameterError naming the rule."""
    cleaned = name.strip().lower()
    if not NAME_PATTERN.fullmatch(cleaned):
        raise ParameterError(
            "name",
            name,
            NAME_RULE,
            _(
                "preset name {name} is not allowed: use {allowed}.",
                name=repr(name[:40]),
                allowed=NAME_RULE,
            ),
        )
    return cleaned


def check_description(description: str) -> str:
    """Strip a description and check its length."""
    text = description.strip()
    if len(text) > DESCRIPTION_LENGTH:
        raise ParameterError(
            "description",
            description,
            _("at most {count} characters", count=DESCRIPTION_LENGTH),
            _(
                "description is {length} characters long: use at most {count}.",
                length=len(text),
                count=DESCRIPTION_LENGTH,
            ),
        )
    return text


class PresetService:
    """Create, edit, list and delete presets; channel default presets."""

    def __init__(self, db: Database, *, max_presets: int = MAX_PRESETS) -> None:
        self.db = db
        self.max_presets = max_presets
        self.cache: GuildCache[GuildPresets] = GuildCache(self._load)

    async def _load(self, guild_id: int) -> GuildPresets:
        async with self.db.read() as session:
            repo = PresetRepository(session)
            presets = {preset.name: preset for preset in await repo.all(guild_id)}
            channels = await repo.channel_map(guild_id)
        if not presets and not channels:
            return NO_PRESETS  # most servers: one shared value, not one each
        return GuildPresets(frozen(presets), frozen(channels))

    # -- reads (cached) ----------------------------------------------------

    async def snapshot(self, guild_id: int) -> GuildPresets:
        """Every preset and channel default of the server (cached)."""
        return await self.cache.get(guild_id)

    async def find(self, guild_id: int, name: str) -> Preset | None:
        """The preset called `name` on this server, or None."""
        return (await self.snapshot(guild_id)).get(name)

    async def get(self, guild_id: int, name: str) -> Preset:
        """The preset called `name` on this server, or NotFound saying so."""
        preset = await self.find(guild_id, name)
        if preset is None:
            raise preset_not_found(name)
        return preset

    async def list(self, guild_id: int) -> builtins.list[Preset]:
        """The server's presets, by name."""
        presets = (await self.snapshot(guild_id)).presets
        return [presets[name] for name in sorted(presets)]

    async def names(self, guild_id: int, prefix: str = "") -> builtins.list[str]:
        """Preset names for autocomplete: those starting with `prefix`, then containing it."""
        needle = prefix.strip().lower()
        names = sorted((await self.snapshot(guild_id)).presets)
        starts = [n for n in names if n.startswith(needle)]
        contains = [n for n in names if needle in n and n not in starts]
        return (starts + contains)[:MAX_PRESETS]

    async def channel_preset(self, guild_id: int, channel_id: int) -> Preset | None:
        """The channel's default preset, if it has one."""
        return (await self.snapshot(guild_id)).for_channel(channel_id)

    # -- writes ------------------------------------------------------------

    async def create(
        self,
        guild_id: int,
        name: str,
        *,
        params: Mapping[str, object],
        description: str = "",
        actor_id: int,
    ) -> Preset:
        """Create a preset.

        ParameterError for a bad name or value or a full server; AlreadyExists
        when the name is taken.
        """
        key = normalize_name(name)
        text = check_description(description)
        values = parse_params(params)
        if not values:
            raise ParameterError(
                "params",
                None,
                join(PRESET_PARAMS),
                _("A preset needs at least one parameter: give e.g. temperature or max_tokens."),
            )
        try:
            async with guild_write(self.db, guild_id) as tx:
                if await tx.presets.get(guild_id, key) is not None:
                    raise preset_exists(key)
                if await tx.presets.count(guild_id) >= self.max_presets:
                    raise ParameterError(
                        "name",
                        key,
                        _("at most {count} presets", count=self.max_presets),
                        _(
                            "This server already has {count} presets, the most it "
                            "can keep: delete one with /preset delete first.",
                            count=self.max_presets,
                        ),
                    )
                preset = await tx.presets.create(
                    guild_id, key, description=text, params=values, actor_id=actor_id
                )
                tx.audit.record(guild_id, actor_id, "preset.create", key, None, _audit_view(preset))
        finally:
            await self.cache.changed(guild_id)
        log.info("guild %s: %s created preset %s", guild_id, actor_id, key)
        return preset

    async def edit(
        self,
        guild_id: int,
        name: str,
        *,
        params: Mapping[str, object] | None = None,
        unset: Iterable[str] = (),
        description: str | None = None,
        actor_id: int,
    ) -> Preset:
        """Change some of a preset's parameters (and/or its description).

        Only the fields given change: two people editing different fields of
        one preset at once both keep their change. `unset` removes parameters.
        """
        key = normalize_name(name)
        changes = parse_params(params or {})
        removed = _check_unset(unset)
        text = check_description(description) if description is not None else None
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return await self._edit_once(guild_id, key, changes, removed, text, actor_id)
            except Conflict:
                # Someone else's edit committed between our read and write; with
                # the guild lock this should not happen, so note it.
                log.warning("preset %s edit raced (attempt %d)", key, attempt)
                if attempt == WRITE_ATTEMPTS:
                    raise
            finally:
                await self.cache.changed(guild_id)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _edit_once(
        self,
        guild_id: int,
        key: str,
        changes: dict[str, Any],
        removed: builtins.list[str],
        description: str | None,
        actor_id: int,
    ) -> Preset:
        async with guild_write(self.db, guild_id) as tx:
            preset = await tx.presets.existing(guild_id, key, for_update=True)
            old_params = dict(preset.params)
            new_params = {k: v for k, v in old_params.items() if k not in removed}
            if "logit_bias" in changes or "logit_bias_words" in changes:
                new_params.pop("logit_bias", None)
                new_params.pop("logit_bias_words", None)
            new_params.update({k: v for k, v in changes.items() if v is not None})
            check_together(new_params)
            old_view: dict[str, Any] = {}
            new_view: dict[str, Any] = {}
            for k in sorted(set(old_params) | set(new_params)):
                if old_params.get(k) != new_params.get(k):
                    old_view[k] = old_params.get(k)
                    new_view[k] = new_params.get(k)
            if description is not None and description != preset.description:
                old_view["description"] = preset.description
                new_view["description"] = description
            if not new_view and not old_view:
                return preset
            preset = await tx.presets.update(
                preset,
                params=new_params,
                description=description if "description" in new_view else None,
                actor_id=actor_id,
            )
            tx.audit.record(guild_id, actor_id, "preset.edit", key, old_view, new_view)
        log.info("guild %s: %s edited preset %s", guild_id, actor_id, key)
        return preset

    async def delete(self, guild_id: int, name: str, actor_id: int) -> builtins.list[int]:
        """Delete a preset; returns the channels that had it as their default."""
        key = normalize_name(name)
        try:
            async with guild_write(self.db, guild_id) as tx:
                preset = await tx.presets.existing(guild_id, key, for_update=True)
                channels = await tx.presets.channels_using(guild_id, preset.id)
                tx.audit.record(guild_id, actor_id, "preset.delete", key, _audit_view(preset), None)
                await tx.presets.delete(preset)
        finally:
            await self.cache.changed(guild_id)
        log.info("guild %s: %s deleted preset %s", guild_id, actor_id, key)
        return channels

    async def set_channel_preset(
        self, guild_id: int, channel_id: int, name: str | None, actor_id: int
    ) -> Preset | None:
        """Make `name` the channel's default preset, or clear it with None."""
        key = normalize_name(name) if name is not None else None
        try:
            async with guild_write(self.db, guild_id) as tx:
                old_name = (await tx.presets.channel_map(guild_id)).get(channel_id)
                preset = await tx.presets.existing(guild_id, key) if key is not None else None
                if old_name == key:
                    return preset
                await tx.presets.set_channel(guild_id, channel_id, preset, actor_id)
                tx.audit.record(
                    guild_id, actor_id, "channel_preset.set", str(channel_id), old_name, key
                )
        finally:
            await self.cache.changed(guild_id)
        return preset


def _check_unset(names: Iterable[str]) -> builtins.list[str]:
    result: builtins.list[str] = []
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        if name not in PRESET_PARAMS:
            raise ParameterError(
                "clear",
                raw,
                join(PRESET_PARAMS),
                _(
                    "clear {value} is not a preset parameter: use names from "
                    "{names}, separated by commas.",
                    value=repr(raw[:40]),
                    names=join(PRESET_PARAMS),
                ),
            )
        result.append(name)
        if name == "logit_bias":
            result.append("logit_bias_words")
    return result


def _audit_view(preset: Preset) -> dict[str, Any]:
    params = preset.params
    return {"description": preset.description, **{k: params[k] for k in sorted(params)}}


__all__ = [
    "MAX_PRESETS",
    "GuildPresets",
    "Preset",
    "PresetService",
    "check_description",
    "normalize_name",
]
