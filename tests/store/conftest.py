"""Every store test runs twice: on a SQLite file and on a real PostgreSQL server, each time on
a database of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from agentchat.store import ChatStore
from agentchat.store._engine import create_engine
from agentchat.store._schema import chats

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]


async def _admin(postgres_url: str, statement: str) -> None:
    """Run `statement` on the server's `postgres` database, outside a transaction."""
    url = make_url(postgres_url).set(drivername="postgresql+asyncpg", database="postgres")
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The URL of an empty database: a SQLite file, or a new database on the test server."""
    if request.param == "sqlite":
        yield str(request.getfixturevalue("sqlite_url"))
        return
    server: str = request.getfixturevalue("postgres_url")
    name = f"store_{uuid.uuid4().hex[:12]}"
    await _admin(server, f'CREATE DATABASE "{name}"')
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def chat_store(db_url: str) -> AsyncIterator[ChatStore]:
    """A migrated store on a database of this test's own."""
    store = await ChatStore.open(db_url)
    yield store
    await store.close()


SetUpdated = Callable[[str, datetime], Awaitable[None]]


@pytest.fixture
async def set_updated(db_url: str) -> AsyncIterator[SetUpdated]:
    """Set a chat's `updated_at` directly, as ties and old chats need."""
    engine = create_engine(db_url)

    async def set_(chat_id: str, when: datetime) -> None:
        async with engine.begin() as conn:
            await conn.execute(
                sa.update(chats).where(chats.c.chat_id == chat_id).values(updated_at=when)
            )

    yield set_
    await engine.dispose()
