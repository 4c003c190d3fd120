"""ChatStream resilience: a dropped Redis connection is resubscribed from the last id."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from agentchat import Agent, AgentChat, Settings
from agentchat import stream as stream_module
from agentchat.chunks import TextDeltaChunk
from agentchat.connections import get_redis
from agentchat.messages import UIMessage
from agentchat.models.offline import OfflineModel
from agentchat.models.openai import OpenAIModel
from agentchat.stream_store import chat_keys
from agentchat.testing import FakeOpenAIServer
from tests.conftest import StartWorker

NewChat = Callable[..., AgentChat]


async def test_dropped_connections_are_resubscribed_without_gaps_or_repeats(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    settings: Settings,
) -> None:
    model_server.token_delay = 0.02
    model_server.reply = lambda messages: " ".join(f"w{i}" for i in range(80))
    await start_worker(Agent(name="echo", model=OpenAIModel("t", base_url=model_server.base_url)))
    chat = new_chat()
    stream = await chat.send_message("go")
    redis = await get_redis(settings)
    deltas: list[str] = []
    kills = 0
    async for chunk in stream:
        if chunk.type == "text-delta":
            deltas.append(chunk.delta)
            if len(deltas) % 5 == 0 and kills < 3:
                # Kill every client connection (the reader's blocked XREAD among them).
                await redis.execute_command("CLIENT", "KILL", "TYPE", "normal")
                kills += 1
    assert kills == 3
    assert "".join(deltas) == " ".join(f"w{i}" for i in range(80))


async def test_stream_timeout_counts_only_silence(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
) -> None:
    model_server.token_delay = 0.3  # slower than nothing, faster than the timeout
    model_server.reply = lambda messages: "a b c d e f g h"
    await start_worker(Agent(name="echo", model=OpenAIModel("t", base_url=model_server.base_url)))
    chat = new_chat(stream_timeout=1.0)
    text = await asyncio.wait_for((await chat.send_message("slowly")).text(), 30)
    assert text == "a b c d e f g h"  # 2.4 s in total, never 1 s of silence


async def test_a_turn_that_streams_while_the_workflow_is_asked_is_read_from_the_stream(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A loaded worker answers the "did the turn end?" query late: here, only once the turn
    # has ended. Reading on meanwhile delivers every token; waiting for the answer delivered
    # none after the first silence, and finished from the transcript.
    monkeypatch.setattr(stream_module, "_PROBE_AFTER", 0.2)
    monkeypatch.setattr(stream_module, "_POLL_MS", 200)
    model_server.ttft = 0.5  # silent long enough for the reader to ask
    model_server.token_delay = 0.05
    words = " ".join(f"w{i}" for i in range(20))
    model_server.reply = lambda messages: words
    await start_worker(Agent(name="echo", model=OpenAIModel("t", base_url=model_server.base_url)))
    chat = new_chat()
    asked: list[int | None] = []
    settled_turn = AgentChat._settled_turn

    async def answered_late(
        self: AgentChat, user_message_id: str | None, turn: int | None
    ) -> tuple[int, UIMessage] | None:
        asked.append(turn)
        for _ in range(300):
            status = await self.status()
            if status is not None and status.last_turn >= 1 and status.active_turn is None:
                break
            await asyncio.sleep(0.05)
        return await settled_turn(self, user_message_id, turn)

    monkeypatch.setattr(AgentChat, "_settled_turn", answered_late)
    stream = await chat.send_message("go")
    deltas = [c.delta async for c in stream if isinstance(c, TextDeltaChunk)]

    assert asked  # the reader did ask
    assert "".join(deltas) == words
    assert "finishing from the transcript" not in caplog.text


async def test_a_turn_the_stream_lost_still_finishes_from_the_transcript(
    start_worker: StartWorker,
    new_chat: NewChat,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stream_module, "_PROBE_AFTER", 0.2)
    monkeypatch.setattr(stream_module, "_POLL_MS", 200)
    await start_worker(Agent(name="echo", model=OfflineModel()))
    chat = new_chat()
    stream = await chat.send_message("hello")
    for _ in range(300):
        status = await chat.status()
        if status is not None and status.last_turn >= 1 and status.active_turn is None:
            break
        await asyncio.sleep(0.05)
    # Redis lost the chat (a flush, a failover) after the turn ended, before it was read.
    await (await get_redis(settings)).delete(*chat_keys(chat.id))

    result = await asyncio.wait_for(stream.result(), 30)

    transcript = await chat.history()
    assert result.status == "completed"
    assert result.message.id == transcript[-1].id
    assert result.text == "".join(p.get("text", "") for p in transcript[-1].parts)
