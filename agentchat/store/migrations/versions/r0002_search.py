"""Full-text search over chat titles and message text.

SQLite: FTS5 tables over `chats.title` and `messages.text` (external content: the text is not
stored twice), kept in sync by triggers, so every write path (and any SQL a user runs by hand)
updates them. PostgreSQL: generated `tsvector` columns with GIN indexes. Rows written before
this revision are indexed by it.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

SQLITE_UP = [
    "CREATE VIRTUAL TABLE messages_fts USING fts5("
    "text, content='messages', content_rowid='id', tokenize='unicode61')",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN"
    " INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);"
    " END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);"
    " INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE VIRTUAL TABLE chats_fts USING fts5("
    "title, content='chats', content_rowid='id', tokenize='unicode61')",
    "CREATE TRIGGER chats_fts_insert AFTER INSERT ON chats BEGIN"
    " INSERT INTO chats_fts(rowid, title) VALUES (new.id, new.title); END",
    "CREATE TRIGGER chats_fts_delete AFTER DELETE ON chats BEGIN"
    " INSERT INTO chats_fts(chats_fts, rowid, title) VALUES ('delete', old.id, old.title); END",
    "CREATE TRIGGER chats_fts_update AFTER UPDATE OF title ON chats BEGIN"
    " INSERT INTO chats_fts(chats_fts, rowid, title) VALUES ('delete', old.id, old.title);"
    " INSERT INTO chats_fts(rowid, title) VALUES (new.id, new.title); END",
    # Index what 0001 stored.
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
    "INSERT INTO chats_fts(chats_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER chats_fts_update",
    "DROP TRIGGER chats_fts_delete",
    "DROP TRIGGER chats_fts_insert",
    "DROP TABLE chats_fts",
    "DROP TRIGGER messages_fts_update",
    "DROP TRIGGER messages_fts_delete",
    "DROP TRIGGER messages_fts_insert",
    "DROP TABLE messages_fts",
]
# 'simple': lower-cased words, no stemming and no stop words, like FTS5's unicode61, so a query
# finds the same chats on both databases whatever the conversation's language. A stored
# generated column computes (and so indexes) existing rows as it is added.
POSTGRES_UP = [
    "ALTER TABLE messages ADD COLUMN search tsvector"
    " GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED",
    "CREATE INDEX ix_messages_search ON messages USING gin (search)",
    "ALTER TABLE chats ADD COLUMN search tsvector"
    " GENERATED ALWAYS AS (to_tsvector('simple', coalesce(title, ''))) STORED",
    "CREATE INDEX ix_chats_search ON chats USING gin (search)",
]
POSTGRES_DOWN = [
    "DROP INDEX ix_chats_search",
    "ALTER TABLE chats DROP COLUMN search",
    "DROP INDEX ix_messages_search",
    "ALTER TABLE messages DROP COLUMN search",
]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _run(SQLITE_UP)
    else:
        _run(POSTGRES_UP)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _run(SQLITE_DOWN)
    else:
        _run(POSTGRES_DOWN)
