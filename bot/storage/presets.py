"""Repository of presets and channel default presets.

The repository owns the ORM: it builds and changes rows, hands back detached
`Preset` records, and turns SQLAlchemy's errors into domain errors
(`AlreadyExists` for a name taken by a concurrent create, `Conflict` for an
edit that lost a race with another).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import AlreadyExists, Conflict, NotFound
from bot.i18n import _
from bot.storage.models import ChannelPreset, PresetRow, utcnow


@dataclass(frozen=True)
class Preset:
    """A preset as the rest of the bot sees it (immutable, safe to cache)."""

    guild_id: int
    name: str
    description: str
    params: Mapping[str, Any]
    created_by: int
    created_at: datetime
    updated_by: int
    updated_at: datetime
    version: int
    id: int = 0

    @classmethod
    def from_row(cls, row: PresetRow) -> Preset:
        return cls(
            id=row.id,
            guild_id=row.guild_id,
            name=row.name,
            description=row.description,
            params=MappingProxyType(dict(row.params)),
            created_by=row.created_by,
            created_at=row.created_at,
            updated_by=row.updated_by,
            updated_at=row.updated_at,
            version=row.version,
        )


def preset_not_found(name: str) -> NotFound:
    return NotFound(
        _(
            "There is no preset named {name} on this server: see /preset list.",
            name=repr(name[:40]),
        ),
        kind="preset",
        name=name,
    )


def preset_exists(name: str) -> AlreadyExists:
    return AlreadyExists(
        _(
            "A preset named {name} already exists: pick another name or use /preset edit.",
            name=repr(name),
        ),
        kind="preset",
        name=name,
    )


class PresetRepository:
    """Reads and writes `presets` and `channel_presets` for one session.

    Every query is filtered by guild id: there is no way to reach another
    server's preset through this class.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- reads -------------------------------------------------------------

    async def all(self, guild_id: int) -> list[Preset]:
        """The server's presets, by name."""
        stmt = select(PresetRow).where(PresetRow.guild_id == guild_id).order_by(PresetRow.name)
        return [Preset.from_row(row) for row in (await self.session.scalars(stmt)).all()]

    async def get(self, guild_id: int, name: str, *, for_update: bool = False) -> Preset | None:
        """One preset by name, optionally row-locked until the transaction ends."""
        row = await self._row(guild_id, name, for_update=for_update)
        return Preset.from_row(row) if row is not None else None

    async def existing(self, guild_id: int, name: str, *, for_update: bool = False) -> Preset:
        """One preset by name, or NotFound saying there is none."""
        preset = await self.get(guild_id, name, for_update=for_update)
        if preset is None:
            raise preset_not_found(name)
        return preset

    async def count(self, guild_id: int) -> int:
        """How many presets the server has."""
        stmt = select(func.count()).select_from(PresetRow).where(PresetRow.guild_id == guild_id)
        return int((await self.session.execute(stmt)).scalar_one())

    async def channel_map(self, guild_id: int) -> dict[int, str]:
        """channel id → preset name, for every channel with a default preset."""
        stmt = (
            select(ChannelPreset.channel_id, PresetRow.name)
            .join(
                PresetRow,
                (PresetRow.id == ChannelPreset.preset_id)
                & (PresetRow.guild_id == ChannelPreset.guild_id),
            )
            .where(ChannelPreset.guild_id == guild_id)
        )
        return {channel_id: name for channel_id, name in await self.session.execute(stmt)}

    async def channels_using(self, guild_id: int, preset_id: int) -> list[int]:
        """The channels whose default is this preset."""
        stmt = select(ChannelPreset.channel_id).where(
            ChannelPreset.guild_id == guild_id, ChannelPreset.preset_id == preset_id
        )
        return list((await self.session.scalars(stmt)).all())

    # -- writes (call under the guild lock) ---------------------------------

    async def create(
        self,
        guild_id: int,
        name: str,
        *,
        description: str,
        params: Mapping[str, Any],
        actor_id: int,
    ) -> Preset:
        """Insert a preset; AlreadyExists when another process took the name first."""
        now = utcnow()
        row = PresetRow(
            guild_id=guild_id,
            name=name,
            description=description,
            params=dict(params),
            created_by=actor_id,
            created_at=now,
            updated_by=actor_id,
            updated_at=now,
        )
        self.session.add(row)
        try:
            await self.session.flush()
        except IntegrityError:
            raise preset_exists(name) from None
        return Preset.from_row(row)

    async def update(
        self,
        preset: Preset,
        *,
        params: Mapping[str, Any] | None = None,
        description: str | None = None,
        actor_id: int,
    ) -> Preset:
        """Save new params and/or description; Conflict when someone saved in between.

        One UPDATE that matches only the version `preset` was read at (and
        bumps it), so a change saved since then is never overwritten.
        """
        values: dict[str, Any] = {
            "updated_by": actor_id,
            "updated_at": utcnow(),
            "version": preset.version + 1,
        }
        if params is not None:
            values["params"] = dict(params)
        if description is not None:
            values["description"] = description
        result = await self.session.execute(
            update(PresetRow)
            .where(
                PresetRow.guild_id == preset.guild_id,
                PresetRow.id == preset.id,
                PresetRow.version == preset.version,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if _rowcount(result) != 1:
            raise _changed(preset.name)
        if params is not None:
            values["params"] = MappingProxyType(values["params"])
        return replace(preset, **values)

    async def delete(self, preset: Preset) -> None:
        """Delete a preset (its channel defaults go with it)."""
        await self.session.execute(
            delete(PresetRow).where(
                PresetRow.guild_id == preset.guild_id, PresetRow.id == preset.id
            )
        )

    async def set_channel(
        self, guild_id: int, channel_id: int, preset: Preset | None, actor_id: int
    ) -> None:
        """Make `preset` the channel's default, or clear the default with None."""
        await self.session.execute(
            delete(ChannelPreset).where(
                ChannelPreset.guild_id == guild_id, ChannelPreset.channel_id == channel_id
            )
        )
        if preset is not None:
            self.session.add(
                ChannelPreset(
                    guild_id=guild_id,
                    channel_id=channel_id,
                    preset_id=preset.id,
                    set_by=actor_id,
                    set_at=utcnow(),
                )
            )
            await self.session.flush()

    async def _row(self, guild_id: int, name: str, *, for_update: bool = False) -> PresetRow | None:
        stmt = select(PresetRow).where(PresetRow.guild_id == guild_id, PresetRow.name == name)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).one_or_none()


def _changed(name: str) -> Conflict:
    return Conflict(
        _("preset {name} kept changing while saving: try the edit again.", name=repr(name)),
        kind="preset",
        name=name,
    )


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
