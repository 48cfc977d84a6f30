"""Repository of the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import AuditEntry, utcnow


class AuditRepository:
    """Appends to and reads `audit_log` for one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def record(
        self, guild_id: int, actor_id: int, action: str, target: str, old: Any, new: Any
    ) -> AuditEntry:
        """Add one entry to the session (written with the change it describes)."""
        entry = AuditEntry(
            guild_id=guild_id,
            actor_id=actor_id,
            at=utcnow(),
            action=action,
            target=target,
            old=old,
            new=new,
        )
        self.session.add(entry)
        return entry

    async def recent(
        self, guild_id: int, limit: int = 10, *, prefix: str | None = None
    ) -> Sequence[AuditEntry]:
        """The newest entries first; `prefix` filters by action ("setting.", "preset.")."""
        stmt = select(AuditEntry).where(AuditEntry.guild_id == guild_id)
        if prefix:
            stmt = stmt.where(AuditEntry.action.startswith(prefix, autoescape=True))
        stmt = stmt.order_by(AuditEntry.id.desc()).limit(limit)
        return (await self.session.scalars(stmt)).all()
