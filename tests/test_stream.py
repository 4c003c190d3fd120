"""ChatStream resilience: a dropped Redis connection is resubscribed from the last id."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from agentchat import Agent, AgentChat, Settings
from agentchat.connections import get_redis
from agentchat.models.openai import OpenAIModel
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
