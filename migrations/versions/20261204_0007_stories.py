"""Group stories: stories, their trees of nodes, rounds and votes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

Written by hand to match bot/storage/stories.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on PostgreSQL, JSON text elsewhere (as bot.storage.models.JSONValue).
JSONValue = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "stories",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("thread_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("candidates", sa.Integer(), nullable=False),
        sa.Column("window_minutes", sa.Integer(), nullable=False),
        sa.Column("quorum", sa.Integer(), nullable=True),
        sa.Column("preset", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("root_node_id", sa.Integer(), nullable=True),
        sa.Column("head_node_id", sa.Integer(), nullable=True),
        sa.Column("current_round_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("last_activity_at", Timestamp, nullable=False),
        sa.Column("ended_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stories")),
    )
    op.create_index("ix_stories_guild", "stories", ["guild_id", "id"])
    op.create_index("ix_stories_thread", "stories", ["guild_id", "thread_id"])
    op.create_index("ix_stories_activity", "stories", ["status", "last_activity_at"])
    op.create_table(
        "story_nodes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("round_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=True),
        sa.Column("params", JSONValue, nullable=True),
        sa.Column("seed", sa.BigInteger(), nullable=True),
        sa.Column("mean_logprob", sa.Float(), nullable=True),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name=op.f("fk_story_nodes_story_id_stories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_story_nodes")),
    )
    op.create_index("ix_story_nodes_story", "story_nodes", ["story_id", "id"])
    op.create_index("ix_story_nodes_round", "story_nodes", ["round_id"])
    op.create_table(
        "story_rounds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("parent_node_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("direction", sa.Text(), nullable=True),
        sa.Column("started_by", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("deadline", Timestamp, nullable=True),
        sa.Column("quorum", sa.Integer(), nullable=True),
        sa.Column("proposed_node_id", sa.Integer(), nullable=True),
        sa.Column("winner_node_id", sa.Integer(), nullable=True),
        sa.Column("close_reason", sa.String(16), nullable=True),
        sa.Column("closed_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", Timestamp, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("closed_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name=op.f("fk_story_rounds_story_id_stories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_story_rounds")),
    )
    op.create_index("ix_story_rounds_due", "story_rounds", ["status", "deadline"])
    op.create_index("ix_story_rounds_story", "story_rounds", ["story_id", "number"])
    op.create_table(
        "story_votes",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("voted_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["story_rounds.id"],
            name=op.f("fk_story_votes_round_id_story_rounds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("round_id", "user_id", name=op.f("pk_story_votes")),
    )


def downgrade() -> None:
    op.drop_table("story_votes")
    op.drop_index("ix_story_rounds_story", table_name="story_rounds")
    op.drop_index("ix_story_rounds_due", table_name="story_rounds")
    op.drop_table("story_rounds")
    op.drop_index("ix_story_nodes_round", table_name="story_nodes")
    op.drop_index("ix_story_nodes_story", table_name="story_nodes")
    op.drop_table("story_nodes")
    op.drop_index("ix_stories_activity", table_name="stories")
    op.drop_index("ix_stories_thread", table_name="stories")
    op.drop_index("ix_stories_guild", table_name="stories")
    op.drop_table("stories")
