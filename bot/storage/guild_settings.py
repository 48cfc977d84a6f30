"""Repository of per-server settings rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import GuildSetting, utcnow


class GuildSettingsRepository:
    """Reads and writes `guild_settings` for one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self, guild_id: int) -> dict[str, Any]:
        """Every setting the server has set, by name."""
        rows = await self.session.execute(
            select(GuildSetting.name, GuildSetting.value).where(GuildSetting.guild_id == guild_id)
        )
        return {name: value for name, value in rows}

    async def value(self, guild_id: int, name: str) -> Any | None:
        """One setting's stored value, or None when the server uses the default.

        (A stored value is never null: resetting a setting deletes its row.)
        """
        row = await self.session.get(GuildSetting, (guild_id, name))
        return row.value if row is not None else None

    async def put(
        self, guild_id: int, name: str, value: Any, actor_id: int, *, now: datetime | None = None
    ) -> None:
        """Insert or update one setting (call under the guild lock)."""
        now = now or utcnow()
        row = await self.session.get(GuildSetting, (guild_id, name))
        if row is None:
            self.session.add(
                GuildSetting(
                    guild_id=guild_id, name=name, value=value, updated_by=actor_id, updated_at=now
                )
            )
        else:
            row.value = value
            row.updated_by = actor_id
            row.updated_at = now
        await self.session.flush()

    async def remove(self, guild_id: int, names: list[str] | None = None) -> None:
        """Delete the named settings (every setting when `names` is None)."""
        stmt = delete(GuildSetting).where(GuildSetting.guild_id == guild_id)
        if names is not None:
            stmt = stmt.where(GuildSetting.name.in_(names))
        await self.session.execute(stmt)
