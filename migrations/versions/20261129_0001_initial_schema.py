"""Initial schema: server settings, presets, channel presets, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-29

Written by hand to match bot/storage/models.py (constraint names follow the
naming convention there; tests/storage/test_migrations.py checks that the
migrated schema and the models agree).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONValue = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "guild_settings",
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", JSONValue, nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "name", name=op.f("pk_guild_settings")),
    )
    op.create_table(
        "presets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("description", sa.String(100), nullable=False),
        sa.Column("params", JSONValue, nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presets")),
        sa.UniqueConstraint("guild_id", "name", name=op.f("uq_presets_guild_id_name")),
        sa.UniqueConstraint("guild_id", "id", name=op.f("uq_presets_guild_id_id")),
    )
    op.create_table(
        "channel_presets",
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("preset_id", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.BigInteger(), nullable=False),
        sa.Column("set_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "channel_id", name=op.f("pk_channel_presets")),
        sa.ForeignKeyConstraint(
            ["guild_id", "preset_id"],
            ["presets.guild_id", "presets.id"],
            name=op.f("fk_channel_presets_guild_id_preset_id_presets"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        op.f("ix_channel_presets_guild_id"),
        "channel_presets",
        ["guild_id", "preset_id"],
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("old", JSONValue, nullable=True),
        sa.Column("new", JSONValue, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_guild_id"), "audit_log", ["guild_id", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_guild_id"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_channel_presets_guild_id"), table_name="channel_presets")
    op.drop_table("channel_presets")
    op.drop_table("presets")
    op.drop_table("guild_settings")
