"""ChatWorkflow durability: crashes, continue-as-new, idle timeout, Redis loss, replay."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from agentchat import Agent, AgentChat, Settings
from agentchat.connections import get_redis, get_temporal
from agentchat.errors import TokenBudgetExceededError
from agentchat.models import ModelRequest
from agentchat.models.openai import OpenAIModel
from agentchat.protocol.chunks import ToolApprovalRequestChunk, ToolInputAvailableChunk
from agentchat.protocol.messages import UIMessage
from agentchat.testing import FakeOpenAIServer
from agentchat.workflows import (
    ChatWorkflow,
    DeleteChatWorkflow,
    RetentionWorkflow,
    delete_workflow_id,
    workflow_id_for,
)
from tests import agents as test_agents
from tests.conftest import StartWorker

NewChat = Callable[..., AgentChat]
HISTORIES = Path(__file__).parent.parent / "histories"
VERSION = "v12"
"""Prefix of newly recorded histories; older files stay, so old runs must keep replaying."""


def echo_agent(server: FakeOpenAIServer, **kwargs: Any) -> Agent:
    return Agent(name="echo", model=OpenAIModel("gpt-test", base_url=server.base_url), **kwargs)


async def all_runs(client: Client, workflow_id: str) -> list[Any]:
    return [r async for r in client.list_workflows(f"WorkflowId = '{workflow_id}'")]


async def test_worker_killed_mid_answer_resumes_with_one_coherent_answer(
    worker_process: Callable[..., Any], new_chat: NewChat
) -> None:
    first = worker_process()
    chat = new_chat(agent="slow")
    stream = await chat.send_message("Tell me a long story")
    chunks: list[Any] = []
    killed = False
    async for chunk in stream:
        chunks.append(chunk)
        if not killed and sum(c.type == "text-delta" for c in chunks) >= 5:
            first.kill()  # SIGKILL: no goodbye, the heartbeat timeout notices
            killed = True
            worker_process()
    result = await stream.result()
    request = ModelRequest(
        None,
        [
            UIMessage(
                id="u", role="user", parts=[{"type": "text", "text": "Tell me a long story"}]
            ),
            UIMessage(id="a", role="assistant"),
        ],
    )
    expected = test_agents.slow.resolved_model().answer(request)  # type: ignore[attr-defined]
    assert result.text == expected
    assert any(c.type == "reset-step" for c in chunks)  # the superseded attempt was reset
    history = await chat.history()
    assert [m.role for m in history] == ["user", "assistant"]
    assert history[1].text() == expected


async def test_continue_as_new_under_a_burst_loses_nothing(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    settings: Settings,
) -> None:
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    count = 40
    streams = []
    readers = []
    for i in range(count):  # sends queue up while earlier turns run; each is read live
        streams.append(await chat.send_message(f"message {i}", message_id=f"m-{i}"))
        readers.append(asyncio.create_task(streams[-1].text()))
    texts = await asyncio.gather(*readers)
    assert texts == [f"Echo: message {i}" for i in range(count)]
    assert [s.turn for s in streams] == list(range(1, count + 1))
    history = await chat.history()
    assert [m.text() for m in history[::2]] == [f"message {i}" for i in range(count)]
    client = await get_temporal(settings)
    runs = await all_runs(client, chat.workflow_id)
    assert len(runs) > 1, "the burst should have crossed a continue-as-new"
    # A resend after continue-as-new is still recognised.
    again = await chat.send_message("message 3", message_id="m-3")
    assert again.turn == 4 and await again.text() == "Echo: message 3"


async def test_messages_sent_as_the_run_continues_as_new_are_not_held_up(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    settings: Settings,
) -> None:
    # Each message follows the end of the turn before, which is when a run continues as new:
    # an update that meets it must land on the new run (Temporal retries it there, ~1 s),
    # not go on at the old one until the client gives up on it (15 s and more).
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    for i in range(25):
        stream = await asyncio.wait_for(chat.send_message(f"n{i}"), 10)
        assert await stream.text() == f"Echo: n{i}"
    runs = await all_runs(await get_temporal(settings), chat.workflow_id)
    assert len(runs) > 2, "the messages should have crossed continue-as-new twice"


async def test_idle_timeout_ends_the_run_and_history_survives(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    settings: Settings,
) -> None:
    await start_worker(echo_agent(model_server, idle_timeout=timedelta(seconds=1)))
    chat = new_chat()
    assert await (await chat.send_message("my name is Ada")).text() == "Echo: my name is Ada"
    first_run = chat.run_id
    client = await get_temporal(settings)
    handle = client.get_workflow_handle(chat.workflow_id, run_id=first_run)
    for _ in range(100):
        if (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED:
            break
        await asyncio.sleep(0.1)
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert [m.text() for m in await chat.history()] == ["my name is Ada", "Echo: my name is Ada"]
    stream = await chat.send_message("what is my name?")
    assert await stream.text() == "Echo: what is my name?"
    assert chat.run_id != first_run and stream.turn == 2
    contents = [m["content"] for m in model_server.requests[-1]["messages"]]
    assert contents == ["my name is Ada", "Echo: my name is Ada", "what is my name?"]


async def test_transcript_survives_the_loss_of_redis(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    settings: Settings,
) -> None:
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    assert await (await chat.send_message("keep this")).text() == "Echo: keep this"
    redis = await get_redis(settings)
    await redis.flushall()  # every stream and cursor gone
    assert [m.text() for m in await chat.history()] == ["keep this", "Echo: keep this"]
    stream = await chat.send_message("still here?")
    assert await stream.text() == "Echo: still here?"
    assert stream.turn == 2


async def test_replay_of_recorded_histories(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    settings: Settings,
) -> None:
    """Fresh histories (steer, stop, close, continue-as-new) and the committed ones replay."""
    chat = await _chat_scenario(start_worker, new_chat(), model_server)

    client = await get_temporal(settings)
    histories: list[WorkflowHistory] = []
    for run in await all_runs(client, chat.workflow_id):
        handle = client.get_workflow_handle(chat.workflow_id, run_id=run.run_id)
        histories.append(await handle.fetch_history())
    assert len(histories) > 1
    deleted = await chat.delete()
    assert deleted is not None and deleted.existed
    histories.append(await client.get_workflow_handle(delete_workflow_id(chat.id)).fetch_history())
    # In Temporal's full sandbox (workers run without one): a restricted call in workflow
    # code, such as the wall clock or I/O, fails the replay.
    replayer = Replayer(
        workflows=[ChatWorkflow, DeleteChatWorkflow, RetentionWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=SandboxedWorkflowRunner(),
    )
    for history in histories:
        await replayer.replay_workflow(history)
    committed = sorted(HISTORIES.glob("*.json"))
    assert committed, "tests/histories/ should hold recorded histories"
    for path in committed:
        history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
        await replayer.replay_workflow(history)


@pytest.mark.skipif("not config.getoption('--record-histories')")
async def test_record_histories(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    settings: Settings,
) -> None:
    """`pytest --record-histories -k record` refreshes tests/histories/ (commit the result)."""
    chat = await _chat_scenario(start_worker, new_chat(id="recorded"), model_server)
    tools_queue = f"{settings.task_queue}-tools"
    await _tool_chat(start_worker, new_chat, tools_queue)
    client = await get_temporal(settings)
    HISTORIES.mkdir(exist_ok=True)
    await _save_runs(client, workflow_id_for("recorded-tools"), "tools")
    await _save_runs(client, chat.workflow_id, "chat")
    context_queue = f"{settings.task_queue}-context"
    for name in await _context_chats(start_worker, new_chat, model_server, context_queue):
        await _save_runs(client, workflow_id_for(name), name[len("recorded-") :])
    protocol_queue = f"{settings.task_queue}-protocol"
    protocol_chat = await _protocol_chat(start_worker, new_chat, model_server, protocol_queue)
    await _save_runs(client, protocol_chat.workflow_id, "protocol")
    threads_queue = f"{settings.task_queue}-threads"
    threads_chat = await _threads_chat(start_worker, new_chat, model_server, threads_queue)
    await _save_runs(client, threads_chat.workflow_id, "threads")
    doomed = new_chat(id="recorded-deleted")
    await (await doomed.send_message("forget me")).text()
    await doomed.delete()
    history = await client.get_workflow_handle(delete_workflow_id(doomed.id)).fetch_history()
    (HISTORIES / f"{VERSION}-delete-run0.json").write_text(history.to_json())


async def _save_runs(client: Client, workflow_id: str, name: str) -> None:
    """Write every run of a workflow, oldest first, as `<VERSION>-<name>-run<n>.json`."""
    runs = sorted(await all_runs(client, workflow_id), key=lambda r: r.start_time)
    for n, run in enumerate(runs):
        handle = client.get_workflow_handle(workflow_id, run_id=run.run_id)
        history = await handle.fetch_history()
        (HISTORIES / f"{VERSION}-{name}-run{n}.json").write_text(history.to_json())


async def _context_chats(
    start_worker: StartWorker, new_chat: NewChat, server: FakeOpenAIServer, queue: str
) -> list[str]:
    """A chat with a generated title and compactions, and one whose token budget runs out."""
    from agentchat.agent import Compaction

    def reply(messages: list[dict[str, Any]]) -> str:
        system = messages[0]["content"] if messages[0]["role"] == "system" else ""
        if "title" in system:
            return "Recorded Title"
        if system.startswith("Compact"):
            return "Summary so far."
        return "answer " * 10

    server.reply = reply
    server.token_delay = 0
    server.context_window = 400
    await start_worker(
        Agent(
            name="context",
            model=OpenAIModel("gpt-test", base_url=server.base_url),
            context_window=400,
            compaction=Compaction(keep_turns=1, instructions="Compact it."),
            title=True,
            max_tokens_per_chat=3000,
        ),
        task_queue=queue,
    )
    chat = new_chat(agent="context", id="recorded-context", task_queue=queue)
    for i in range(8):
        await (await chat.send_message(f"turn {i} " + "words " * 20)).text()
    await chat.close(wait=True)
    budget = new_chat(agent="context", id="recorded-budget", task_queue=queue)
    with contextlib.suppress(TokenBudgetExceededError):
        for i in range(40):
            await (await budget.send_message(f"turn {i} " + "words " * 20)).text()
    with contextlib.suppress(TokenBudgetExceededError):
        await (await budget.send_message("refused")).text()
    await budget.close(wait=True)
    server.context_window = None
    return ["recorded-context", "recorded-budget"]


async def _protocol_chat(
    start_worker: StartWorker, new_chat: NewChat, server: FakeOpenAIServer, queue: str
) -> AgentChat:
    """A chat with inputs, resources set by the model, a tool and a block, and a trigger."""
    from tests.workflows.test_agent_protocol import reply, support_agent

    server.reply = reply
    server.token_delay = 0
    await start_worker(support_agent(server), task_queue=queue)
    chat = new_chat(
        agent="support", id="recorded-protocol", task_queue=queue, inputs={"COMPANY_NAME": "A"}
    )
    for text in ("hello", "set summary", "take a note"):
        await (await chat.send_message(text)).text()
    await (await chat.trigger("request-human", {"REASON": "stuck"})).text()
    await chat.close(wait=True)
    return chat


async def _threads_chat(
    start_worker: StartWorker, new_chat: NewChat, server: FakeOpenAIServer, queue: str
) -> AgentChat:
    """A chat with a named thread, operations, a hidden answer and instructions a function
    writes."""
    from tests.workflows.test_threads import reply, summary_agent

    server.reply = reply
    server.token_delay = 0
    agent = summary_agent(server)
    agent.instructions = lambda ctx: f"You help {ctx.owner}."
    await start_worker(agent, task_queue=queue)
    chat = new_chat(agent="threads", id="recorded-threads", task_queue=queue, owner="ada")
    for text in ("first", "second"):
        await (await chat.send_message(text)).text()
    await (await chat.trigger("summarise")).text()
    await (await chat.trigger("quietly")).text()
    await chat.close(wait=True)
    return chat


async def _tool_chat(start_worker: StartWorker, new_chat: NewChat, queue: str) -> None:
    """A chat with a server tool, an approval, a denial and a client tool."""
    from agentchat.models import OfflineModel
    from agentchat.tools import client_tool, tool

    @tool
    async def lookup(query: str) -> str:
        """Look something up."""
        return f"found {query}"

    @tool(requires_approval=True)
    async def delete_file(path: str) -> str:
        """Delete a file."""
        return "deleted"

    model = OfflineModel(tokens_per_second=0, first_token_delay=0)
    await start_worker(
        Agent(
            name="ops",
            model=model,
            tools=[lookup, delete_file, client_tool("pick_color", "Pick a colour.")],
        ),
        task_queue=queue,
    )
    chat = new_chat(agent="ops", id="recorded-tools", task_queue=queue)
    await (await chat.send_message("please lookup the docs")).text()
    for decision in (True, False):
        stream = await chat.send_message(f"delete file {decision}")
        async for chunk in stream:
            if isinstance(chunk, ToolApprovalRequestChunk):
                if decision:
                    await chat.approve(chunk.approval_id)
                else:
                    await chat.deny(chunk.approval_id, "no")
    stream = await chat.send_message("pick color please")
    async for chunk in stream:
        if isinstance(chunk, ToolInputAvailableChunk):
            await chat.submit_tool_result(chunk.tool_call_id, "green")
    await chat.close(wait=True)


async def test_a_new_worker_gets_the_whole_transcript(
    worker_process: Callable[..., Any], new_chat: NewChat
) -> None:
    """Steps pass the settled transcript by reference to the worker's cache; a worker that
    never saw the chat asks for it once and then answers with the whole conversation."""
    first = worker_process()
    chat = new_chat(agent="quick")
    for text in ("one", "two"):
        await (await chat.send_message(text)).text()
    first.kill()
    worker_process()
    answer = await (await chat.send_message("three")).text()
    assert "it has seen 3 messages" in answer
    answer = await (await chat.send_message("four")).text()
    assert "it has seen 4 messages" in answer


async def _chat_scenario(
    start_worker: StartWorker, chat: AgentChat, model_server: FakeOpenAIServer
) -> AgentChat:
    """A chat that steers, stops, crosses continue-as-new and closes: its runs' histories."""
    model_server.token_delay = 0.01
    await start_worker(echo_agent(model_server))
    stream = await chat.send_message("one two three four five six seven eight")
    async for chunk in stream:
        if chunk.type == "text-delta":
            await chat.steer("steer now")
            break
    model_server.reply = lambda messages: " ".join(["long"] * 200)
    stopped = await chat.send_message("long please")
    async for chunk in stopped:
        if chunk.type == "text-delta":
            await chat.stop()
            break
    model_server.reply = lambda messages: "ok"
    for i in range(12):
        await (await chat.send_message(f"n{i}")).text()
    await chat.close(wait=True)
    return chat
