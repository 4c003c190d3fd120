"""Attachments: which blobs (files) each chat holds.

A row says that a chat's messages may refer to a blob: written when a file is uploaded to the
chat, checked before a message referring to it is sent and before the gateway serves it, and
deleted with the chat (whose blobs are then deleted unless another chat holds them). No
foreign key to `chats`: a file is uploaded before the first message creates the chat.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("chat_id", sa.String(200), nullable=False),
        sa.Column("ref", sa.String(71), nullable=False),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("filename", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "ref", name="pk_attachments"),
    )
    # Whether any other chat still holds a blob, when a chat's deletion decides to delete it.
    op.create_index("ix_attachments_ref", "attachments", ["ref"])


def downgrade() -> None:
    op.drop_index("ix_attachments_ref", table_name="attachments")
    op.drop_table("attachments")
