"""SQLAlchemy models: what each server keeps.

Every table is keyed by the Discord server (guild) id, so one server's rows
can never be reached through another server's id. Discord ids are 64-bit,
hence `BigInteger`. Timestamps are timezone-aware UTC on every backend.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSONB on PostgreSQL (comparable, compact); JSON text elsewhere.
JSONValue = JSON().with_variant(JSONB(), "postgresql")

# Longest values we store; they match Discord's own limits for option values.
NAME_LENGTH = 32
DESCRIPTION_LENGTH = 100
SETTING_NAME_LENGTH = 32


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """`DateTime(timezone=True)` that always hands back aware UTC datetimes.

    SQLite has no time zone type and returns naive values; PostgreSQL returns
    aware ones. Normalising here keeps comparisons and formatting uniform.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class GuildSetting(Base):
    """One server setting: one row per server and setting name.

    A row per name (rather than one JSON document per server) means two
    moderators changing different settings never touch the same row, and each
    change maps to exactly one audit entry.
    """

    __tablename__ = "guild_settings"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(SETTING_NAME_LENGTH), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONValue, nullable=False)
    updated_by: Mapped[int] = mapped_column(BigInteger, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class PresetRow(Base):
    """A named set of completion parameters belonging to one server.

    `version` is SQLAlchemy's version counter: an UPDATE that raced with
    another one fails instead of silently overwriting it.
    """

    __tablename__ = "presets"
    __table_args__ = (
        UniqueConstraint("guild_id", "name"),
        # Target of the channel_presets foreign key: a channel can only point
        # at a preset of its own server.
        UniqueConstraint("guild_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), nullable=False)
    description: Mapped[str] = mapped_column(String(DESCRIPTION_LENGTH), nullable=False, default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSONValue, nullable=False, default=dict)
    created_by: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_by: Mapped[int] = mapped_column(BigInteger, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class ChannelPreset(Base):
    """The default preset of one channel."""

    __tablename__ = "channel_presets"
    __table_args__ = (
        ForeignKeyConstraint(
            ["guild_id", "preset_id"],
            ["presets.guild_id", "presets.id"],
            ondelete="CASCADE",
        ),
        Index(None, "guild_id", "preset_id"),
    )

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    channel_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    preset_id: Mapped[int] = mapped_column(Integer, nullable=False)
    set_by: Mapped[int] = mapped_column(BigInteger, nullable=False)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class AuditEntry(Base):
    """One change to a server's settings or presets: who, when, what, old, new."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "guild_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    actor_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # e.g. "setting.set", "preset.edit", "channel_preset.set"
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    # the setting name, preset name or channel id the change is about
    target: Mapped[str] = mapped_column(String(64), nullable=False)
    old: Mapped[Any | None] = mapped_column(JSONValue, nullable=True)
    new: Mapped[Any | None] = mapped_column(JSONValue, nullable=True)
