"""Several processes: ledger entries carry their own id (a batch written twice is kept
once), and interactions being answered are kept until answered (interaction_jobs).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Written by hand to match bot/storage/usage.py and bot/storage/jobs.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on PostgreSQL, JSON text elsewhere (as bot.storage.models.JSONValue).
JSONValue = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("usage_ledger", sa.Column("entry_id", sa.String(32), nullable=True))
    op.create_index("uq_usage_ledger_entry_id", "usage_ledger", ["entry_id"], unique=True)
    op.create_table(
        "interaction_jobs",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("interaction", JSONValue, nullable=False),
        sa.Column("args", JSONValue, nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("heartbeat_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interaction_jobs")),
    )
    op.create_index("ix_interaction_jobs_heartbeat_at", "interaction_jobs", ["heartbeat_at"])


def downgrade() -> None:
    op.drop_index("ix_interaction_jobs_heartbeat_at", table_name="interaction_jobs")
    op.drop_table("interaction_jobs")
    op.drop_index("uq_usage_ledger_entry_id", table_name="usage_ledger")
    with op.batch_alter_table("usage_ledger") as batch:
        batch.drop_column("entry_id")
