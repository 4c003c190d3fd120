"""Schema migrations: from an empty database, from the previous revision with data in it, and
from several processes at once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from agentchat.store import ChatStore
from agentchat.store._engine import create_engine
from agentchat.store._migrate import head_revision
from agentchat.store._schema import metadata_obj

ROOT = Path(__file__).resolve().parents[2]


def msg(id: str, role: str, text: str) -> dict[str, object]:
    return {"id": id, "role": role, "parts": [{"type": "text", "text": text}]}


async def test_an_empty_database_is_migrated_to_the_head(db_url: str) -> None:
    bare = await ChatStore.open(db_url, migrate=False)
    try:
        assert await bare.schema_version() is None
    finally:
        await bare.close()
    store = await ChatStore.open(db_url)
    try:
        assert await store.schema_version() == head_revision() == "0003"
        await store.create_chat("c1", "echo")
    finally:
        await store.close()
    # Opening again migrates nothing and keeps the data.
    again = await ChatStore.open(db_url)
    try:
        assert await again.get_chat("c1") is not None
    finally:
        await again.close()


def _column_names(connection: sa.Connection, table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(connection).get_columns(table)}


async def test_the_tables_match_what_the_code_queries(db_url: str) -> None:
    store = await ChatStore.open(db_url)
    await store.close()
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            for table in metadata_obj.sorted_tables:
                columns = await conn.run_sync(_column_names, table.name)
                # PostgreSQL's generated `search` column is the database's own business.
                assert columns - {"search"} == {c.name for c in table.columns}, table.name
    finally:
        await engine.dispose()


async def test_upgrade_from_the_previous_revision_keeps_data_and_indexes_it(
    db_url: str,
) -> None:
    store = await ChatStore.open(db_url, migrate=False)
    try:
        await store.migrate("0001")
        assert await store.schema_version() == "0001"
        await store.create_chat("old", "echo", owner="alice", title="Quarterly budget")
        await store.save_turn(
            "old",
            1,
            [msg("u", "user", "Summarise the invoices"), msg("a", "assistant", "Done.")],
            start=0,
            usage={"total": 5},
        )
        await store.create_chat("older", "echo", owner="alice")
        before = await store.get_chat("old")
    finally:
        await store.close()

    store = await ChatStore.open(db_url)
    try:
        assert await store.schema_version() == head_revision()
        assert await store.get_chat("old") == before
        rows = await store.load_messages("old")
        assert [r.message["id"] for r in rows] == ["u", "a"] and rows[1].usage == {"total": 5}
        # What 0001 stored is searchable: titles and message text.
        assert [c.chat_id for c in (await store.list_chats(query="budget")).chats] == ["old"]
        assert [c.chat_id for c in (await store.list_chats(query="invoices")).chats] == ["old"]
        # And what is written from now on too.
        await store.save_turn("older", 1, [msg("u", "user", "Invoices again")], start=0)
        found = await store.list_chats(query="invoices")
        assert [c.chat_id for c in found.chats] == ["older", "old"]
        await store.delete_chat("old")
        assert [c.chat_id for c in (await store.list_chats(query="invoices")).chats] == ["older"]
    finally:
        await store.close()


async def test_concurrent_opens_from_tasks_migrate_once(db_url: str) -> None:
    stores = await asyncio.gather(*(ChatStore.open(db_url) for _ in range(4)))
    try:
        assert {await s.schema_version() for s in stores} == {head_revision()}
        await stores[0].create_chat("c1", "echo")
        assert await stores[3].get_chat("c1") is not None
    finally:
        for store in stores:
            await store.close()


OPEN = """
import asyncio, sys
from agentchat.store import ChatStore
async def main():
    store = await ChatStore.open(sys.argv[1])
    await store.create_chat(sys.argv[2], "echo")
    print(await store.schema_version())
    await store.close()
asyncio.run(main())
"""


async def test_concurrent_opens_from_processes_migrate_once(db_url: str) -> None:
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            OPEN,
            db_url,
            f"chat-{n}",
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(2)
    ]
    results = [await asyncio.wait_for(p.communicate(), 60) for p in processes]
    for process, (out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err.decode()[-2000:]
        assert out.decode().strip() == head_revision()
    store = await ChatStore.open(db_url)
    try:
        assert len((await store.list_chats()).chats) == 2
    finally:
        await store.close()


def test_the_head_read_from_the_revision_files_is_alembics() -> None:
    """Workers skip importing Alembic when the database is at this head: it must be right."""
    from alembic.script import ScriptDirectory

    from agentchat.store._migrate import _config, head_revision

    assert head_revision() == ScriptDirectory.from_config(_config()).get_current_head()
