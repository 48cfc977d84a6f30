"""What was last synced to Discord, so identical commands are not re-synced on every start.

One row per application and scope ("global" or "guild:ID") with a hash of the
command payload.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String, select
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.database import Database
from bot.storage.models import Base, UTCDateTime, utcnow


class CommandSyncRow(Base):
    """The hash of the commands last synced for one application and scope."""

    __tablename__ = "command_sync"

    application_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    payload_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class CommandSyncStore:
    """Read and record the last synced hash per scope."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def last_hash(self, application_id: int, scope: str) -> str | None:
        async with self.db.read() as session:
            return await session.scalar(
                select(CommandSyncRow.payload_hash).where(
                    CommandSyncRow.application_id == application_id,
                    CommandSyncRow.scope == scope,
                )
            )

    async def record(self, application_id: int, scope: str, payload_hash: str) -> None:
        async with self.db.write() as session:
            row = await session.get(CommandSyncRow, (application_id, scope))
            if row is None:
                session.add(
                    CommandSyncRow(
                        application_id=application_id, scope=scope, payload_hash=payload_hash
                    )
                )
            else:
                row.payload_hash = payload_hash
                row.synced_at = utcnow()
