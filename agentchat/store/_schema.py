"""The tables as the head revision leaves them, for SQLAlchemy Core queries.

Migrations (`migrations/versions/`) create them and never import this module: a revision is
frozen once released, while this module follows the newest one. `tests/store` checks that the
two agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

__all__ = ["Json", "UTCDateTime", "attachments", "chats", "messages", "meta", "metadata_obj"]


class UTCDateTime(sa.TypeDecorator[datetime]):
    """An aware UTC datetime with microseconds on both databases.

    PostgreSQL keeps `timestamptz`. SQLite has no datetime type: SQLAlchemy stores fixed-width
    text (`2025-01-02 03:04:05.000006`), so ordering by the column, and comparing it with a
    parameter, is exact as long as every value is UTC, which this type guarantees.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Json = sa.JSON().with_variant(JSONB(), "postgresql")
"""JSON text on SQLite, `jsonb` on PostgreSQL."""

# SQLite makes only an `INTEGER PRIMARY KEY` an alias of the rowid, which FTS5's external
# content tables key on (any other rowid may change on VACUUM); PostgreSQL gets a bigint.
Key: Any = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata_obj = sa.MetaData()

chats = sa.Table(
    "chats",
    metadata_obj,
    sa.Column("id", Key, primary_key=True, autoincrement=True),
    sa.Column("chat_id", sa.String(200), nullable=False, unique=True),
    sa.Column("agent", sa.String(200), nullable=False),
    sa.Column("owner", sa.String(200), nullable=True),
    sa.Column("parent", sa.String(200), nullable=True),
    sa.Column("title", sa.Text, nullable=True),
    sa.Column("metadata", Json, nullable=False),
    sa.Column("state", Json, nullable=False),
    sa.Column("archived", sa.Boolean, nullable=False),
    sa.Column("deleting", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("last_turn", sa.Integer, nullable=False),
    sa.Column("message_count", sa.Integer, nullable=False),
)

messages = sa.Table(
    "messages",
    metadata_obj,
    sa.Column("id", Key, primary_key=True, autoincrement=True),
    sa.Column(
        "chat_id",
        sa.String(200),
        sa.ForeignKey("chats.chat_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("turn", sa.Integer, nullable=False),
    sa.Column("message", Json, nullable=False),
    sa.Column("usage", Json, nullable=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("chat_id", "position", name="uq_messages_position"),
)

meta = sa.Table(
    "agentchat_meta",
    metadata_obj,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

attachments = sa.Table(
    "attachments",
    metadata_obj,
    sa.Column("chat_id", sa.String(200), primary_key=True),
    sa.Column("ref", sa.String(71), primary_key=True),
    sa.Column("media_type", sa.String(255), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("filename", sa.String(255), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)
"""The blobs each chat holds (revision 0003). No foreign key to `chats`: a file is uploaded
before the first message creates its chat."""
