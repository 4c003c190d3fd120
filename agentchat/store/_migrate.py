"""Run the store's Alembic migrations over an open connection (no alembic.ini)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

__all__ = ["MIGRATIONS", "MIGRATION_LOCK", "current_revision", "head_revision", "upgrade"]

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x61676E74_63686174 & 0x7FFF_FFFF_FFFF_FFFF
"""PostgreSQL advisory lock key held while migrating ("agntchat"), so processes that start
together migrate one at a time; the others then find the schema at head."""


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this package ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at, None for an empty database."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: sa.Connection, revision: str = "head") -> None:
    """Upgrade the database to `revision` inside the connection's current transaction."""
    target = head_revision() if revision == "head" else revision
    if current_revision(connection) == target:
        return  # every process opens the store: the usual case costs one read, no log lines
    command.upgrade(_config(connection), revision)
