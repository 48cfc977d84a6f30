"""Repository of presets and channel default presets."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import ChannelPreset, PresetRow


class PresetRepository:
    """Reads and writes `presets` and `channel_presets` for one session.

    Every query is filtered by guild id: there is no way to reach another
    server's preset through this class.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self, guild_id: int) -> Sequence[PresetRow]:
        """The server's presets, by name."""
        stmt = select(PresetRow).where(PresetRow.guild_id == guild_id).order_by(PresetRow.name)
        return (await self.session.scalars(stmt)).all()

    async def get(self, guild_id: int, name: str, *, for_update: bool = False) -> PresetRow | None:
        """One preset by name, optionally row-locked until the transaction ends."""
        stmt = select(PresetRow).where(PresetRow.guild_id == guild_id, PresetRow.name == name)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).one_or_none()

    async def count(self, guild_id: int) -> int:
        """How many presets the server has."""
        stmt = select(func.count()).select_from(PresetRow).where(PresetRow.guild_id == guild_id)
        return int((await self.session.execute(stmt)).scalar_one())

    def add(self, row: PresetRow) -> None:
        self.session.add(row)

    async def delete(self, row: PresetRow) -> None:
        await self.session.delete(row)

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

    async def get_channel(self, guild_id: int, channel_id: int) -> ChannelPreset | None:
        return await self.session.get(ChannelPreset, (guild_id, channel_id))

    async def clear_channel(self, guild_id: int, channel_id: int) -> None:
        await self.session.execute(
            delete(ChannelPreset).where(
                ChannelPreset.guild_id == guild_id, ChannelPreset.channel_id == channel_id
            )
        )
