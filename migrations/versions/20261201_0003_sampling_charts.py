"""Stored /sampling charts (what the Sample it and Next token buttons refer to).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Written by hand to match bot/storage/sampling.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sampling_charts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("temperature", sa.Float(), nullable=False),
        sa.Column("top_p", sa.Float(), nullable=False),
        sa.Column("top_logprobs", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sampling_charts")),
    )
    op.create_index(op.f("ix_sampling_charts_created_at"), "sampling_charts", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sampling_charts_created_at"), table_name="sampling_charts")
    op.drop_table("sampling_charts")
