"""Serialising writes to one server's configuration, and the unit of work that holds them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.audit import AuditRepository
from bot.storage.guild_settings import GuildSettingsRepository
from bot.storage.presets import PresetRepository

if TYPE_CHECKING:
    from bot.storage.database import Database

# First key of the two-key advisory lock space used for server configuration
# (the migration lock uses the one-key space, which never collides with it).
GUILD_LOCK_CLASS = 0x436F7570  # "Coup"


def guild_lock_key(guild_id: int) -> int:
    """Fold a 64-bit Discord id into PostgreSQL's signed 32-bit lock key."""
    folded = (guild_id ^ (guild_id >> 32)) & 0xFFFFFFFF
    return folded - (1 << 32) if folded >= (1 << 31) else folded


async def lock_guild(session: AsyncSession, guild_id: int) -> None:
    """Hold the server's configuration write lock until the transaction ends.

    PostgreSQL: a transaction-level advisory lock, so checks such as "at most
    25 presets" and read-modify-write edits see every earlier write. SQLite
    needs nothing: write transactions begin IMMEDIATE and so run one at a time.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:cls, :key)"),
            {"cls": GUILD_LOCK_CLASS, "key": guild_lock_key(guild_id)},
        )


@dataclass(frozen=True)
class GuildWrite:
    """The repositories of one server-configuration write transaction."""

    presets: PresetRepository
    settings: GuildSettingsRepository
    audit: AuditRepository


@asynccontextmanager
async def guild_write(db: Database, guild_id: int) -> AsyncIterator[GuildWrite]:
    """A write transaction holding the server's configuration lock.

    Committed when the block ends, rolled back when it raises: a change and
    its audit entry are saved together or not at all.
    """
    async with db.write() as session:
        await lock_guild(session, guild_id)
        yield GuildWrite(
            PresetRepository(session), GuildSettingsRepository(session), AuditRepository(session)
        )
