"""Stored generations (what buttons refer to) and the last command sync per scope.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Written by hand to match bot/storage/generations.py and
bot/storage/command_sync.py (Stream D).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "generations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("display", sa.JSON(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generations")),
    )
    op.create_index(op.f("ix_generations_created_at"), "generations", ["created_at"])
    op.create_table(
        "command_sync",
        sa.Column("application_id", sa.BigInteger(), nullable=False),
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        sa.Column("synced_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("application_id", "scope", name=op.f("pk_command_sync")),
    )


def downgrade() -> None:
    op.drop_table("command_sync")
    op.drop_index(op.f("ix_generations_created_at"), table_name="generations")
    op.drop_table("generations")
