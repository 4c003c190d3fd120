"""The chat store's database down while a turn streams: the answer streams on, the turn's
write waits for the database, and nothing is lost or written twice."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentchat import Agent, AgentChat, Settings
from agentchat.connections import get_redis, get_store, get_temporal
from agentchat.models.openai import OpenAIModel
from agentchat.protocol.chunks import FinishChunk, TextDeltaChunk
from agentchat.stream._store import StreamStore
from agentchat.testing import FakeOpenAIServer
from agentchat.testing.local import free_port, start_postgres, stop_postgres
from agentchat.worker import create_worker

WORDS = 120


class Database:
    """A PostgreSQL server of this test's own, to stop and start again on its data."""

    def __init__(self) -> None:
        # Not under pytest's tmp dir: as root the server runs as an unprivileged user.
        self.base = Path(tempfile.mkdtemp(prefix="agentchat-pg-outage-"))
        self.base.chmod(0o711)
        self.port = free_port()
        self.url = f"postgresql://agentchat@127.0.0.1:{self.port}/agentchat"
        self.start()

    def start(self) -> None:
        self.process = start_postgres(self.base / "data", self.port, log_file=self.base / "log")

    def stop(self) -> None:
        stop_postgres(self.process)


@pytest.fixture
def database() -> Iterator[Database]:
    db = Database()
    yield db
    db.stop()
    shutil.rmtree(db.base, ignore_errors=True)


async def test_the_database_down_mid_turn_costs_the_stream_nothing_and_loses_no_turn(
    settings: Settings, model_server: FakeOpenAIServer, database: Database
) -> None:
    answer = " ".join(f"w{i}" for i in range(WORDS))
    model_server.reply = lambda messages: answer
    model_server.token_delay = 0.02
    ours = dataclasses.replace(settings, database_url=database.url)
    agent = Agent(name="echo", model=OpenAIModel("t", base_url=model_server.base_url))
    worker = create_worker(
        await get_temporal(ours),
        StreamStore(await get_redis(ours)),
        [agent],
        task_queue=ours.task_queue,
        settings=ours,
    )
    async with worker:
        chat = AgentChat(agent="echo", id=f"db-outage-{uuid.uuid4().hex[:8]}", settings=ours)
        await (await chat.send_message("warm up")).text()
        stream = await chat.send_message("talk for a while")
        words: list[str] = []
        first, finished = asyncio.Event(), asyncio.Event()

        async def read() -> None:
            async for chunk in stream:
                if isinstance(chunk, TextDeltaChunk):
                    words.append(chunk.delta)
                    first.set()
                elif isinstance(chunk, FinishChunk):
                    finished.set()

        reader = asyncio.create_task(read())
        await asyncio.wait_for(first.wait(), 30)
        database.stop()
        # The whole answer streams while the database is down...
        for _ in range(1000):
            if "".join(words).split() == answer.split():
                break
            await asyncio.sleep(0.02)
        assert "".join(words).split() == answer.split()
        # ...and its end waits for the turn's write, retried until the database is back.
        await asyncio.sleep(2)
        assert not finished.is_set()
        history = await chat.history()  # from the running workflow: no database needed
        assert history[-1].text().split() == answer.split()
        database.start()
        await asyncio.wait_for(reader, 60)
        assert finished.is_set()
        result = await stream.result()
        assert result.text.split() == answer.split()

        store = await get_store(ours)
        rows = await store.load_messages(chat.id)
        assert [(r.position, r.turn) for r in rows] == [(0, 1), (1, 1), (2, 2), (3, 2)]
        follow_up = await chat.send_message("and again")
        await follow_up.text()
        rows = await store.load_messages(chat.id)
        assert len(rows) == 6
        await chat.close(wait=True)
    texts = [m.text().split() for m in await chat.history()]
    assert texts[3] == answer.split() and len(texts) == 6
