"""An interaction job remembers the stored generation that answers it, so that a process
taking the job over after its own died sends that answer again instead of generating
another (bot/storage/jobs.py).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

Written by hand to match bot/storage/jobs.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("interaction_jobs", sa.Column("generation_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("interaction_jobs") as batch:
        batch.drop_column("generation_id")
