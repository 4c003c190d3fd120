"""The chat store as a client sees it: history that outlives Temporal's runs, owners, the
directory of chats, and everything the store keeps per turn."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from agentchat import AgentChat, Chats, Settings
from agentchat.connections import get_store, get_temporal
from agentchat.errors import ChatNotFoundError
from agentchat.testing import FakeOpenAIServer
from tests.conftest import StartWorker
from tests.workflows.test_chat import echo_agent

NewChat = Callable[..., AgentChat]


async def _erase_runs(client: Client, settings: Settings, workflow_id: str) -> None:
    """What Temporal's retention does to a chat's closed runs: they are gone. The newest run is
    found by describing the workflow (visibility may not list a run that just closed)."""
    handle = client.get_workflow_handle(workflow_id)
    for _ in range(1200):
        try:
            run_id = (await handle.describe()).run_id
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return
            raise
        with contextlib.suppress(RPCError):  # already being deleted
            await client.workflow_service.delete_workflow_execution(
                DeleteWorkflowExecutionRequest(
                    namespace=settings.temporal_namespace,
                    workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
                )
            )
        await asyncio.sleep(0.05)
    raise AssertionError(f"{workflow_id}'s runs were not deleted")


def _user_texts(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


async def test_a_chat_whose_runs_were_deleted_continues_with_its_whole_history(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    settings: Settings,
) -> None:
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    for text in ("one", "two"):
        await (await chat.send_message(text)).text()
    await chat.close(wait=True)
    await _erase_runs(await get_temporal(settings), settings, chat.workflow_id)

    texts = [m.text() for m in await chat.history()]
    assert texts == ["one", "Echo: one", "two", "Echo: two"]
    model_server.requests.clear()
    stream = await chat.send_message("three")
    assert await stream.text() == "Echo: three"
    assert stream.turn == 3  # turn numbers go on from the store's
    assert _user_texts(model_server.requests[-1]) == ["one", "two", "three"]
    texts = [m.text() for m in await chat.history()]
    assert texts == ["one", "Echo: one", "two", "Echo: two", "three", "Echo: three"]


async def test_each_turn_is_stored_once_with_its_turn_and_title(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    settings: Settings,
) -> None:
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    first = "Plan a three day walking trip through the hills north of the old town please"
    await (await chat.send_message(first, message_id="m1")).text()
    again = await chat.send_message(first, message_id="m1")  # a resend runs no turn
    await again.text()
    await (await chat.send_message("and pack light")).text()

    store = await get_store(settings)
    rows = await store.load_messages(chat.id)
    assert [(r.position, r.turn, r.message["role"]) for r in rows] == [
        (0, 1, "user"),
        (1, 1, "assistant"),
        (2, 2, "user"),
        (3, 2, "assistant"),
    ]
    info = await chat.info()
    assert info.last_turn == 2 and info.message_count == 4
    assert info.title is not None and first.startswith(info.title.rstrip("…").rstrip())
    assert info.agent == "echo" and info.owner is None


async def test_a_stopped_turn_is_stored_as_the_transcript_has_it(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    settings: Settings,
) -> None:
    model_server.token_delay = 0.02
    model_server.reply = lambda messages: " ".join(f"w{i}" for i in range(200))
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    stream = await chat.send_message("talk")
    async for chunk in stream:
        if chunk.type == "text-delta":
            await chat.stop()
            break
    await stream.result()
    history = await chat.history()
    rows = await (await get_store(settings)).load_messages(chat.id)
    assert [r.message for r in rows] == [
        m.model_dump(mode="json", exclude_none=True) for m in history
    ]
    assert rows[-1].message["metadata"] == {"status": "stopped"}
    assert 0 < len(history[-1].text().split()) < 200


async def test_an_owner_sees_only_their_own_chats(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    await start_worker(echo_agent(model_server))
    alice = new_chat(owner="alice")
    await (await alice.send_message("mine")).text()
    bob = new_chat(id=alice.id, owner="bob")
    for call in (
        lambda: bob.send_message("let me in"),
        bob.history,
        bob.info,
        lambda: bob.rename("taken"),
        lambda: bob.steer("psst"),
        bob.delete,
    ):
        with pytest.raises(ChatNotFoundError, match="no chat"):
            await call()
    # The owner is fixed at creation, also across a new run.
    await alice.close(wait=True)
    with pytest.raises(ChatNotFoundError):
        await bob.send_message("and now?")
    assert (await alice.info()).owner == "alice"
    anyone = new_chat(id=alice.id)  # a backend's own call acts for every owner
    assert [m.text() for m in await anyone.history()] == ["mine", "Echo: mine"]
    assert await (await alice.send_message("still mine")).text() == "Echo: still mine"


async def test_the_directory_lists_searches_renames_and_archives(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    settings: Settings,
) -> None:
    await start_worker(echo_agent(model_server))
    owner = f"user-{id(settings)}"
    made = []
    for text in ("lighthouse keepers", "sourdough starter", "tidal pools"):
        chat = new_chat(owner=owner)
        await (await chat.send_message(f"tell me about {text}")).text()
        made.append(chat)
    other = new_chat(owner="someone-else")
    await (await other.send_message("tell me about sourdough")).text()

    chats = Chats(settings)
    page = await chats.list(owner=owner)
    assert [c.chat_id for c in page.chats] == [c.id for c in reversed(made)]
    first = await chats.list(owner=owner, limit=2)
    assert first.next_cursor is not None and len(first.chats) == 2
    rest = await chats.list(owner=owner, limit=2, cursor=first.next_cursor)
    assert [c.chat_id for c in first.chats + rest.chats] == [c.id for c in reversed(made)]

    found = await chats.list(owner=owner, query="sourdough")
    assert [c.chat_id for c in found.chats] == [made[1].id]

    renamed = await made[0].rename("Lighthouses")
    assert renamed.title == "Lighthouses"
    assert (await chats.list(owner=owner)).chats[0].chat_id == made[0].id  # newest activity
    assert [c.chat_id for c in (await chats.list(owner=owner, query="lighthouses")).chats] == [
        made[0].id
    ]

    await made[2].archive()
    listed = [c.chat_id for c in (await chats.list(owner=owner)).chats]
    assert made[2].id not in listed and len(listed) == 2
    archived = await chats.list(owner=owner, archived=True)
    assert [c.chat_id for c in archived.chats] == [made[2].id]
    await made[2].archive(False)
    assert len((await chats.list(owner=owner)).chats) == 3

    info = await made[1].set_metadata({"project": "bread"})
    assert info.metadata == {"project": "bread"}


async def test_directory_input_is_checked(settings: Settings, new_chat: NewChat) -> None:
    chats = Chats(settings)
    with pytest.raises(ValueError, match="limit"):
        await chats.list(limit=0)
    with pytest.raises(ValueError, match="cursor"):
        await chats.list(cursor="not-a-cursor")
    chat = new_chat()
    with pytest.raises(ValueError, match="title"):
        await chat.rename("")
    with pytest.raises(ChatNotFoundError):
        await chat.rename("a chat that never was")
    with pytest.raises(ValueError, match="owner"):
        new_chat(owner="")
