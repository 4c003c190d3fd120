"""Bad input gets a clear error naming what and where, quickly, and loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import pytest

from agentchat import Agent, AgentChat, ChatSession, Settings
from agentchat.client._direct import DirectBackend
from agentchat.connections import get_redis, get_temporal
from agentchat.errors import (
    AgentMismatchError,
    CursorTrimmedError,
    InvalidCursorError,
    InvalidMessageError,
    MessageTooLargeError,
    NoWorkerError,
    RedisUnavailableError,
    TemporalUnavailableError,
    UnknownAgentError,
)
from agentchat.models import OfflineModel
from agentchat.models.openai import OpenAIModel
from agentchat.protocol.contracts import SendAck, SendInput
from agentchat.protocol.messages import UIMessage
from agentchat.stream._store import Retention, StreamStore
from agentchat.testing import FakeOpenAIServer
from agentchat.testing.local import free_port
from agentchat.worker import create_worker
from agentchat.workflows import ChatWorkflow
from tests.conftest import StartWorker

NewChat = Callable[..., AgentChat]


def echo_agent(server: FakeOpenAIServer, **kwargs: Any) -> Agent:
    return Agent(name="echo", model=OpenAIModel("gpt-test", base_url=server.base_url), **kwargs)


async def test_empty_and_oversized_messages_are_refused_before_sending(new_chat: NewChat) -> None:
    chat = new_chat()
    with pytest.raises(InvalidMessageError, match="empty"):
        await chat.send_message("  \n ")
    with pytest.raises(MessageTooLargeError, match="limit is 262144 bytes"):
        await chat.send_message("x" * 300_000)
    with pytest.raises(InvalidMessageError, match="str or UIMessage"):
        await chat.send_message(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidMessageError, match=r"send_raw\(messages\)\[-1\]"):
        await chat.send_raw([{"id": "a", "role": "user"}])
    assert await chat.status() is None  # nothing reached Temporal


async def test_the_workflow_validator_rejects_malformed_messages(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    bad = SendInput(message=UIMessage(id="m", role="user", parts=[]), agent="echo")
    with pytest.raises(InvalidMessageError, match="parts is empty"):
        backend = chat._backend
        assert isinstance(backend, DirectBackend)
        await backend._update_with_start(ChatWorkflow.send, bad, SendAck)
    assert await (await chat.send_message("fine")).text() == "Echo: fine"


def test_bad_chat_ids_and_agents_are_refused() -> None:
    with pytest.raises(ValueError, match="chat id"):
        AgentChat(agent="demo", id="has {braces}")
    with pytest.raises(ValueError, match="agent must name"):
        AgentChat(agent="")


async def test_unknown_agent_is_named(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    await start_worker(echo_agent(model_server))
    with pytest.raises(UnknownAgentError, match="unknown agent 'nobody'"):
        await new_chat(agent="nobody").send_message("hello?")


async def test_a_chat_keeps_its_agent(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    await start_worker(echo_agent(model_server), Agent(name="other", model=OfflineModel(0)))
    chat = new_chat()
    await (await chat.send_message("hi")).text()
    with pytest.raises(AgentMismatchError, match="belongs to agent 'echo', not 'other'"):
        await new_chat(agent="other", id=chat.id).send_message("hijack")


async def test_bad_cursors(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    settings: Settings,
) -> None:
    with pytest.raises(InvalidCursorError, match="'not-a-cursor'"):
        await new_chat(session=ChatSession(last_event_id="not-a-cursor")).reconnect()
    client = await get_temporal(settings)
    store = StreamStore(await get_redis(settings), Retention(keep_turns=1))
    agent = echo_agent(model_server)
    worker = create_worker(
        client, store, [agent], task_queue=settings.task_queue, settings=settings
    )
    async with contextlib.aclosing(agent), worker:
        chat = new_chat()
        await (await chat.send_message("one")).text()
        old = chat.session.last_event_id
        for text in ("two", "three"):
            await (await chat.send_message(text)).text()
        stale = new_chat(id=chat.id, session=ChatSession(last_event_id=old))
        with pytest.raises(CursorTrimmedError, match="history"):
            await stale.reconnect()
        assert len(await stale.history()) == 6  # the documented fallback


async def test_unreachable_services_fail_fast_and_clearly(settings: Settings) -> None:
    dead = free_port()
    started = time.monotonic()
    no_redis = AgentChat(
        agent="demo", settings=settings, redis_url=f"redis://:s3cret@127.0.0.1:{dead}/0"
    )
    with pytest.raises(RedisUnavailableError, match=f"127.0.0.1:{dead}") as info:
        await no_redis.send_message("hi")
    assert "s3cret" not in str(info.value)
    no_temporal = AgentChat(agent="demo", settings=settings, temporal_address=f"127.0.0.1:{dead}")
    with pytest.raises(TemporalUnavailableError, match=f"127.0.0.1:{dead}"):
        await no_temporal.send_message("hi")
    assert time.monotonic() - started < 30  # generous: each gives up after ~5 s


async def test_no_worker_is_reported(new_chat: NewChat) -> None:
    chat = new_chat(accept_timeout=2)
    with pytest.raises(NoWorkerError, match="no worker polls task queue"):
        await chat.send_message("anyone?")


async def test_redis_outage_mid_turn_loses_nothing(
    settings: Settings, new_chat: NewChat, spare_redis: Any, model_server: FakeOpenAIServer
) -> None:
    port, kill = spare_redis()
    own = Settings(
        temporal_address=settings.temporal_address,
        task_queue=settings.task_queue,
        redis_url=f"redis://127.0.0.1:{port}/0",
        database_url=settings.database_url,
    )
    model_server.token_delay = 0.03
    model_server.reply = lambda messages: " ".join(f"w{i}" for i in range(60))
    agent = echo_agent(model_server)
    worker = create_worker(
        await get_temporal(own),
        StreamStore(await get_redis(own)),
        [agent],
        task_queue=own.task_queue,
        settings=own,
    )
    async with contextlib.aclosing(agent), worker:
        chat = AgentChat(agent="echo", settings=own)
        stream = await chat.send_message("survive this")
        reader = asyncio.create_task(stream.text())
        await asyncio.sleep(0.4)
        kill()
        await asyncio.sleep(1.0)
        spare_redis(port)  # back, but empty: the stream was only a cache
        text = await asyncio.wait_for(reader, 60)
        history = await chat.history()
        expected = " ".join(f"w{i}" for i in range(60))
        assert history[1].text() == expected
        assert text == expected
        assert await (await chat.send_message("after")).text() == expected


async def test_a_refused_run_does_not_hide_the_conversation(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    await (await chat.send_message("remember me")).text()
    await chat.close(wait=True)
    with pytest.raises(UnknownAgentError):
        await new_chat(agent="typo", id=chat.id).send_message("hello?")
    assert await (await chat.send_message("still me?")).text() == "Echo: still me?"
    assert [m.text() for m in await chat.history()] == [
        "remember me",
        "Echo: remember me",
        "still me?",
        "Echo: still me?",
    ]
