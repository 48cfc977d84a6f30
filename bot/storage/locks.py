"""Serialising writes to one server's configuration."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

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
