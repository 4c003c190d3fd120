"""Run the store's Alembic migrations over an open connection (no alembic.ini).

Alembic (with Mako and Pygments) takes ~0.3 s to import: every process opens the store, and a
worker's start is what a crashed worker's chats wait for, so it is imported only when the
database is behind. Which revision is the newest is read from the revision files themselves.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["MIGRATIONS", "MIGRATION_LOCK", "current_revision", "head_revision", "upgrade"]

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x61676E74_63686174 & 0x7FFF_FFFF_FFFF_FFFF
"""PostgreSQL advisory lock key held while migrating ("agntchat"), so processes that start
together migrate one at a time; the others then find the schema at head."""

_REVISION = re.compile(r'^revision\s*=\s*"([^"]+)"', re.MULTILINE)
_DOWN = re.compile(r'^down_revision[^=]*=\s*"([^"]+)"', re.MULTILINE)


def _config(connection: sa.Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str:
    """The newest revision this package ships: the one no other revision revises."""
    revisions, revised = set(), set()
    for path in (MIGRATIONS / "versions").glob("r*.py"):
        text = path.read_text()
        found = _REVISION.search(text)
        if found:
            revisions.add(found.group(1))
        down = _DOWN.search(text)
        if down:
            revised.add(down.group(1))
    heads = revisions - revised
    assert len(heads) == 1, f"the store's migrations must have one head, not {sorted(heads)}"
    return heads.pop()


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at, None for an empty database."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(connection: sa.Connection, revision: str = "head") -> None:
    """Upgrade the database to `revision` inside the connection's current transaction."""
    target = head_revision() if revision == "head" else revision
    if current_revision(connection) == target:
        return  # every process opens the store: the usual case costs one read, no log lines
    from alembic import command

    command.upgrade(_config(connection), revision)
