"""Deleting chats durably: everything erased, races with messages, sub-agent chats, and the
retention schedule's sweeps through the same path."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from agentchat import Agent, AgentChat, Settings
from agentchat.activities.store import LEGACY_IMPORT
from agentchat.connections import get_store, get_temporal
from agentchat.errors import ChatDeletingError, ChatNotFoundError
from agentchat.models import OfflineModel
from agentchat.protocol.contracts import DeleteChatResult, RetentionInput
from agentchat.store import message_text
from agentchat.stream._store import chat_keys
from agentchat.subagents import agent_tool
from agentchat.testing import FakeOpenAIServer
from agentchat.worker._retention import ensure_retention_schedule, retention_schedule_id
from agentchat.workflows import RetentionWorkflow, delete_workflow_id
from tests.conftest import StartWorker
from tests.workflows.test_chat import echo_agent

NewChat = Callable[..., AgentChat]


async def _keys(redis: Redis, chat_id: str) -> int:
    return int(await redis.exists(*chat_keys(chat_id)))


async def test_delete_erases_the_chat_everywhere_and_its_id_starts_afresh(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    settings: Settings,
    redis: Redis,
) -> None:
    await start_worker(echo_agent(model_server))
    chat = new_chat(owner="carol")
    await (await chat.send_message("remember the blue door")).text()
    store = await get_store(settings)
    assert await store.get_chat(chat.id) is not None and await _keys(redis, chat.id)

    result = await chat.delete()
    assert result == DeleteChatResult(chat_id=chat.id, existed=True)
    assert await store.get_chat(chat.id) is None
    assert await store.load_messages(chat.id) == []
    assert await _keys(redis, chat.id) == 0
    # Its run was ended, and its runs' histories (which hold the conversation) erased.
    handle = (await get_temporal(settings)).get_workflow_handle(chat.workflow_id)
    for _ in range(600):
        try:
            description = await handle.describe()
        except RPCError as exc:
            assert exc.status == RPCStatusCode.NOT_FOUND
            break
        assert description.status == WorkflowExecutionStatus.TERMINATED
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the chat's runs were not erased")
    again = await chat.delete()
    assert again is not None and again.existed is False  # deleting twice is harmless

    stream = await chat.send_message("what door?")
    assert await stream.text() == "Echo: what door?"
    assert stream.turn == 1
    assert [m.text() for m in await chat.history()] == ["what door?", "Echo: what door?"]


async def test_a_message_racing_a_deletion_is_refused_and_nothing_is_left(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    settings: Settings,
    redis: Redis,
) -> None:
    model_server.token_delay = 0.02
    model_server.reply = lambda messages: " ".join(f"w{i}" for i in range(300))
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    stream = await chat.send_message("a long one")
    async for chunk in stream:
        if chunk.type == "text-delta":
            break
    assert await chat.delete(wait=False) is None  # mid-turn
    store = await get_store(settings)
    for _ in range(200):
        record = await store.get_chat(chat.id)
        if record is None or record.deleting:
            break
        await asyncio.sleep(0.05)
    late = new_chat(id=chat.id)
    with pytest.raises(ChatDeletingError, match="being deleted"):
        await late.send_message("wait for me")
    client = await get_temporal(settings)
    await client.get_workflow_handle(delete_workflow_id(chat.id)).result()
    assert await store.get_chat(chat.id) is None
    assert await store.load_messages(chat.id) == []
    assert await _keys(redis, chat.id) == 0


async def test_deleting_a_chat_deletes_the_sub_agent_chats_it_owns(
    start_worker: StartWorker, new_chat: NewChat, settings: Settings, redis: Redis
) -> None:
    offline = OfflineModel(tokens_per_second=0, first_token_delay=0)
    researcher = Agent(name="researcher", model=offline)
    lead = Agent(name="lead", model=offline, tools=[agent_tool("researcher", persistent=True)])
    await start_worker(researcher, lead)
    chat = new_chat(agent="lead", owner="dana")
    await (await chat.send_message("please ask researcher about tides")).text()
    sub_id = f"{chat.id}.ask_researcher"
    store = await get_store(settings)
    sub = await store.get_chat(sub_id)
    assert sub is not None and sub.owner == "dana"  # it takes its parent's owner
    listed = await store.list_chats(owner="dana")
    assert [c.chat_id for c in listed.chats] == [chat.id]  # sub-chats are not in the directory

    result = await chat.delete()
    assert result is not None and result.subchats == [sub_id]
    for chat_id in (chat.id, sub_id):
        assert await store.get_chat(chat_id) is None
        assert await _keys(redis, chat_id) == 0


async def test_retention_deletes_the_chats_idle_past_their_policy(
    start_worker: StartWorker, new_chat: NewChat, settings: Settings
) -> None:
    offline = OfflineModel(tokens_per_second=0, first_token_delay=0)
    brief = Agent(name="brief", model=offline, retention=timedelta(seconds=1))
    keeper = Agent(name="keeper", model=offline)  # no policy: kept
    await start_worker(brief, keeper)
    old, kept = new_chat(agent="brief"), new_chat(agent="keeper")
    for chat in (old, kept):
        await (await chat.send_message("hello")).text()
    await asyncio.sleep(1.2)
    fresh = new_chat(agent="brief")
    await (await fresh.send_message("just now")).text()

    client = await get_temporal(settings)
    swept = await client.execute_workflow(
        RetentionWorkflow.run,
        RetentionInput(),
        id=f"sweep-{old.id}",
        task_queue=settings.task_queue,
    )
    store = await get_store(settings)
    assert old.id in swept.deleted and fresh.id not in swept.deleted
    assert kept.id not in swept.deleted
    assert await store.get_chat(old.id) is None
    assert await store.get_chat(fresh.id) is not None and await store.get_chat(kept.id)

    assert await ensure_retention_schedule(client, [brief], settings)
    assert await ensure_retention_schedule(client, [brief], settings)  # twice is harmless
    schedule = client.get_schedule_handle(retention_schedule_id(settings.task_queue))
    description = await schedule.describe()
    assert description.schedule.spec.intervals[0].every == timedelta(hours=1)
    await schedule.delete()
    assert not await ensure_retention_schedule(client, [keeper], settings)


async def test_a_chat_from_before_the_store_is_imported_from_its_last_run_once(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    settings: Settings,
) -> None:
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    await (await chat.send_message("from the old days")).text()
    await chat.close(wait=True)
    store = await get_store(settings)
    await store.delete_chat(chat.id)  # as if the store never knew it
    previous = await store.get_meta(LEGACY_IMPORT)
    await store.set_meta(LEGACY_IMPORT, (datetime.now(UTC) + timedelta(days=3)).isoformat())
    try:
        # It had no owner: a user asking first does not get it.
        with pytest.raises(ChatNotFoundError):
            await new_chat(id=chat.id, owner="mallory").send_message("mine now?")
        record = await store.get_chat(chat.id)
        assert record is not None and record.owner is None
        stream = await chat.send_message("still there?")
        assert await stream.text() == "Echo: still there?"
    finally:
        await store.set_meta(LEGACY_IMPORT, previous or "")
    rows = await store.load_messages(chat.id)
    assert [message_text(r.message) for r in rows] == [
        "from the old days",
        "Echo: from the old days",
        "still there?",
        "Echo: still there?",
    ]
    assert [r.turn for r in rows] == [1, 1, 2, 2]
