"""Moderation: per-server policy and word lists, verdicts and decisions, held texts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Written by hand to match bot/storage/moderation.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on PostgreSQL, JSON text elsewhere (as bot.storage.models.JSONValue).
JSONValue = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "moderation_policies",
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("actions", JSONValue, nullable=False),
        sa.Column("on_failure", sa.String(8), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", name=op.f("pk_moderation_policies")),
    )
    op.create_table(
        "moderation_words",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", sa.String(260), nullable=False),
        sa.Column("added_by", sa.BigInteger(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_words")),
        sa.UniqueConstraint(
            "guild_id", "kind", "value", name=op.f("uq_moderation_words_guild_id_kind_value")
        ),
    )
    op.create_table(
        "moderation_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("categories", JSONValue, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reviewer_id", sa.BigInteger(), nullable=True),
        sa.Column("held_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_events")),
    )
    op.create_index(op.f("ix_moderation_events_guild_id"), "moderation_events", ["guild_id", "id"])
    op.create_table(
        "moderation_held",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("categories", JSONValue, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("review_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("review_message_id", sa.BigInteger(), nullable=True),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_held")),
    )
    op.create_index(op.f("ix_moderation_held_guild_id"), "moderation_held", ["guild_id", "status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_moderation_held_guild_id"), table_name="moderation_held")
    op.drop_table("moderation_held")
    op.drop_index(op.f("ix_moderation_events_guild_id"), table_name="moderation_events")
    op.drop_table("moderation_events")
    op.drop_table("moderation_words")
    op.drop_table("moderation_policies")
