"""A story round remembers the interaction that asked for it, so that the interaction,
run again by another process after its own died (bot/interaction_jobs.py), continues
that round instead of starting another.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

Written by hand to match bot/storage/stories.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("story_rounds", sa.Column("interaction_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("story_rounds") as batch:
        batch.drop_column("interaction_id")
