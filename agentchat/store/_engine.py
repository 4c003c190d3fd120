"""From a user's database URL to an async engine: drivers, SQLite pragmas, transactions."""

from __future__ import annotations

import time
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from agentchat.settings import redact_url

__all__ = ["WRITE", "async_url", "create_engine"]

URL_VARIABLE = "AGENTCHAT_DATABASE_URL"
WRITE = "agentchat_write"
"""Execution option of a connection whose transaction writes (SQLite: `BEGIN IMMEDIATE`)."""
SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another (process's) write transaction to end. Writes
here last milliseconds; the wait is for a migration or a bulk deletion in another process."""

_SCHEMES = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def async_url(url: str) -> URL:
    """The SQLAlchemy async URL for a user's `sqlite:///path` or `postgresql://...` URL.

    Raises:
        ValueError: Unsupported scheme, in-memory SQLite, or a URL that does not parse. The
            message names `AGENTCHAT_DATABASE_URL` and never shows a password.
    """
    use = "use sqlite:///path/to/chats.db or postgresql://user:password@host:5432/database"
    if "://" not in url:
        # Not a URL: it may still hold a password, so none of it is shown.
        raise ValueError(f"{URL_VARIABLE} is not a database URL (no scheme); {use}")
    scheme = url.partition("://")[0].lower()
    driver = _SCHEMES.get(scheme)
    if driver is None:
        raise ValueError(
            f"{URL_VARIABLE}: unsupported database URL scheme {scheme!r} in"
            f" {redact_url(url)!r}; {use}"
        )
    try:
        parsed = make_url(url).set(drivername=driver)
    except ArgumentError:
        raise ValueError(f"{URL_VARIABLE}: cannot parse {redact_url(url)!r}") from None
    if driver.startswith("sqlite"):
        if parsed.database in (None, "", ":memory:") or (parsed.database or "").startswith(
            "file::memory:"
        ):
            # Each pooled connection would see its own empty database.
            raise ValueError(
                f"{URL_VARIABLE}: an in-memory SQLite database is not supported; use a file,"
                " sqlite:///path/to/chats.db"
            )
        return parsed
    query = dict(parsed.query)
    if "sslmode" in query:
        # libpq's name; asyncpg takes the same values as `ssl`.
        query["ssl"] = query.pop("sslmode")
    return parsed.set(query=query)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for `url` (see `async_url`), set up for the store.

    SQLite connections get WAL (readers never wait for the writer), a busy timeout, foreign
    keys, and full fsync at commit: the store is the system of record, and a turn's write
    costs one fsync. Transactions that write begin with `BEGIN IMMEDIATE`, so two writers
    queue on the busy timeout instead of one failing when it upgrades a read lock.
    """
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        engine = create_async_engine(
            target, echo=echo, json_serializer=_dumps, json_deserializer=orjson.loads
        )
        _setup_sqlite(engine)
        return engine
    return create_async_engine(
        target,
        echo=echo,
        json_serializer=_dumps,
        json_deserializer=orjson.loads,
        # A connection the server dropped (restart, failover) is replaced on checkout instead
        # of failing the turn's write that drew it.
        pool_pre_ping=True,
        connect_args={"server_settings": {"application_name": "agentchat"}},
    )


def _pragma(cursor: Any, pragma: str) -> None:
    """Run a connection's PRAGMA, waiting out a lock as the busy timeout would.

    Switching a new database to WAL takes an exclusive lock, and SQLite answers "database is
    locked" at once, without its busy handler, to a connection that meets another one doing
    so (4 stores opening one new file at once: ~1 in 100 under load). Runs in the driver's
    thread, so it sleeps there.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute(pragma)
            return
        except Exception as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _setup_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy emits BEGIN itself (below); the driver's implicit transactions would
        # start DEFERRED ones, and leave PRAGMA journal_mode inside a transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}",
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = FULL",
            "PRAGMA foreign_keys = ON",
        ):
            _pragma(cursor, pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: sa.Connection) -> None:
        write = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
