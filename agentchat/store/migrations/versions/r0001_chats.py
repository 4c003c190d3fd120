"""Chats, their messages, and a key-value table for the store's own bookkeeping.

Revision ID: 0001
Revises: none
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

JSON: Any = sa.JSON().with_variant(JSONB(), "postgresql")
# An INTEGER PRIMARY KEY is SQLite's rowid alias (stable across VACUUM, so full-text search
# can key on it); a bigint on PostgreSQL.
KEY: Any = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "chats",
        sa.Column("id", KEY, primary_key=True, autoincrement=True),
        sa.Column("chat_id", sa.String(200), nullable=False),
        sa.Column("agent", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("parent", sa.String(200), nullable=True),
        sa.Column("title", sa.Text, nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.Column("archived", sa.Boolean, nullable=False),
        sa.Column("deleting", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_turn", sa.Integer, nullable=False),
        sa.Column("message_count", sa.Integer, nullable=False),
        sa.UniqueConstraint("chat_id", name="uq_chats_chat_id"),
    )
    # Listing is newest activity first within an owner (a user's sidebar) or an agent, with
    # the archived flag as a filter: each index serves its listing in order, so a page costs
    # its rows, not the owner's whole history.
    op.create_index("ix_chats_owner_list", "chats", ["owner", "archived", "updated_at", "chat_id"])
    op.create_index("ix_chats_agent_list", "chats", ["agent", "archived", "updated_at", "chat_id"])
    # A chat's sub-agent chats, found (and deleted) with it.
    op.create_index("ix_chats_parent", "chats", ["parent"])
    # Retention (stale chats) and listings across every owner.
    op.create_index("ix_chats_updated", "chats", ["updated_at", "chat_id"])
    op.create_table(
        "messages",
        sa.Column("id", KEY, primary_key=True, autoincrement=True),
        sa.Column(
            "chat_id",
            sa.String(200),
            sa.ForeignKey("chats.chat_id", ondelete="CASCADE", name="fk_messages_chat"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("turn", sa.Integer, nullable=False),
        sa.Column("message", JSON, nullable=False),
        sa.Column("usage", JSON, nullable=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("chat_id", "position", name="uq_messages_position"),
    )
    op.create_table(
        "agentchat_meta",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("agentchat_meta")
    op.drop_table("messages")
    op.drop_table("chats")
