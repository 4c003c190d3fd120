"""Redis down while a step finishes: the answer is never cut short and called complete.

Redis is really stopped (SIGKILL) and restarted on its append-only file, not mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentchat import Agent, AgentChat, Settings
from agentchat.connections import get_redis, get_temporal
from agentchat.models.openai import OpenAIModel
from agentchat.protocol.chunks import (
    Chunk,
    ResetStepChunk,
    TextDeltaChunk,
    ToolOutputAvailableChunk,
)
from agentchat.stream._store import StreamStore
from agentchat.testing import FakeOpenAIServer, FakeToolCall
from agentchat.testing.local import free_port, start_redis, stop_process
from agentchat.tools import tool
from agentchat.worker import create_worker

WORDS = 40


class KillableRedis:
    """A Redis server of this test's own, append-only under `data_dir`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.process = start_redis(self.port, data_dir)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def restart(self) -> None:
        self.process = start_redis(self.port, self.data_dir)


@pytest.fixture
def killable_redis(tmp_path: Path) -> Iterator[KillableRedis]:
    redis = KillableRedis(tmp_path / "redis")
    yield redis
    stop_process(redis.process)


async def read_turn(chat: AgentChat, first_delta: asyncio.Event) -> list[Chunk]:
    stream = await chat.send_message("go")
    chunks: list[Chunk] = []
    async for chunk in stream:
        chunks.append(chunk)
        if isinstance(chunk, TextDeltaChunk):
            first_delta.set()
    return chunks


def text_of(chunks: list[Chunk]) -> str:
    """The text a reader assembles: a retried step's reset drops what it showed before (a
    step outlives its heartbeat timeout on a loaded machine now and then)."""
    deltas: list[str] = []
    for chunk in chunks:
        if isinstance(chunk, ResetStepChunk):
            deltas.clear()  # one step writes text in these tests
        elif isinstance(chunk, TextDeltaChunk):
            deltas.append(chunk.delta)
    return "".join(deltas)


@contextlib.asynccontextmanager
async def serving(settings: Settings, agent: Agent) -> AsyncIterator[None]:
    worker = create_worker(
        await get_temporal(settings),
        StreamStore(await get_redis(settings)),
        [agent],
        task_queue=settings.task_queue,
        settings=settings,
    )
    async with worker:
        yield


async def test_an_answer_that_finished_while_redis_was_down_reaches_its_readers_whole(
    settings: Settings,
    model_server: FakeOpenAIServer,
    killable_redis: KillableRedis,
) -> None:
    answer = " ".join(f"w{i}" for i in range(WORDS))
    model_server.reply = lambda messages: answer
    model_server.token_delay = 0.05  # the model is done ~2 s in: while Redis is down
    ours = dataclasses.replace(settings, redis_url=killable_redis.url)
    agent = Agent(name="echo", model=OpenAIModel("t", base_url=model_server.base_url))
    async with serving(ours, agent):
        chat = AgentChat(agent="echo", id=f"outage-{uuid.uuid4().hex[:8]}", settings=ours)
        first_delta = asyncio.Event()
        reader = asyncio.create_task(read_turn(chat, first_delta))
        await asyncio.wait_for(first_delta.wait(), 30)
        killable_redis.kill()
        # Longer than the step's 3 s heartbeat timeout, and past the model's last token.
        await asyncio.sleep(4.5)
        killable_redis.restart()
        chunks = await asyncio.wait_for(reader, 90)
        history = await chat.history()
    assert text_of(chunks) == answer
    assert history[-1].text() == answer


async def test_a_tool_result_written_while_redis_was_down_reaches_its_readers(
    settings: Settings,
    model_server: FakeOpenAIServer,
    killable_redis: KillableRedis,
) -> None:
    tool_started = asyncio.Event()

    @tool
    async def slow_lookup() -> str:
        """Look something up, slowly."""
        tool_started.set()
        await asyncio.sleep(3.0)  # returns while Redis is down
        return "found it"

    replies: list[Any] = [[FakeToolCall("slow_lookup", "{}", "c1")], "It was found."]
    model_server.reply = lambda messages: replies.pop(0) if len(replies) > 1 else replies[0]
    ours = dataclasses.replace(settings, redis_url=killable_redis.url)
    model = OpenAIModel("t", base_url=model_server.base_url)
    async with serving(ours, Agent(name="echo", model=model, tools=[slow_lookup])):
        chat = AgentChat(agent="echo", id=f"outage-{uuid.uuid4().hex[:8]}", settings=ours)
        reader = asyncio.create_task(read_turn(chat, asyncio.Event()))
        await asyncio.wait_for(tool_started.wait(), 30)
        await asyncio.sleep(0.5)  # the call's start is on the stream
        killable_redis.kill()
        await asyncio.sleep(4.5)
        killable_redis.restart()
        chunks = await asyncio.wait_for(reader, 90)
    outputs = [c.output for c in chunks if isinstance(c, ToolOutputAvailableChunk)]
    assert outputs == ["found it"]
    assert text_of(chunks) == "It was found."


async def test_a_reader_whose_stream_lost_records_finishes_from_the_transcript(
    settings: Settings,
    model_server: FakeOpenAIServer,
    killable_redis: KillableRedis,
) -> None:
    answer = " ".join(f"w{i}" for i in range(WORDS))
    model_server.reply = lambda messages: answer
    model_server.token_delay = 0.05
    ours = dataclasses.replace(settings, redis_url=killable_redis.url)
    agent = Agent(name="echo", model=OpenAIModel("t", base_url=model_server.base_url))
    async with serving(ours, agent):
        chat = AgentChat(agent="echo", id=f"outage-{uuid.uuid4().hex[:8]}", settings=ours)
        stream = await chat.send_message("go")
        async for chunk in stream:
            if isinstance(chunk, TextDeltaChunk):
                break
        # The reader pauses while the answer goes on into Redis; then Redis comes back
        # empty, and what this reader had not read yet is gone.
        await asyncio.sleep(0.6)
        killable_redis.kill()
        shutil.rmtree(killable_redis.data_dir)
        killable_redis.restart()
        result = await asyncio.wait_for(stream.result(), 90)
    assert result.text == answer
    assert result.status == "completed"
