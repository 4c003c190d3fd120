"""SIGTERM drains real worker and gateway processes without losing or repeating a word."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from temporalio.api.enums.v1 import EventType, TimeoutType

from agentchat import AgentChat, Settings
from agentchat.connections import get_temporal
from agentchat.protocol.chunks import Chunk, TextDeltaChunk
from agentchat.stream import ChatStream
from agentchat.workflows.chat import workflow_id_for
from tests.conftest import GATEWAY_KEY, GatewayProcess, WorkerProcess


def chat_for(settings: Settings, agent: str = "slow", **kwargs: Any) -> AgentChat:
    return AgentChat(agent, f"drain-{uuid.uuid4().hex[:10]}", settings=settings, **kwargs)


async def first_text(stream: AsyncIterator[Chunk]) -> list[str]:
    """Read until the first text arrives; returns the text so far."""
    text: list[str] = []
    async for chunk in stream:
        if isinstance(chunk, TextDeltaChunk):
            text.append(chunk.delta)
            return text
    raise AssertionError("the turn ended before any text")


async def rest(stream: AsyncIterator[Chunk], text: list[str]) -> int:
    """Read the rest of the turn into `text`; returns how many step resets arrived."""
    resets = 0
    async for chunk in stream:
        if isinstance(chunk, TextDeltaChunk):
            text.append(chunk.delta)
        elif chunk.type == "reset-step":
            resets += 1
            text.clear()  # the slow agent answers in one step: a reset restarts the text
    return resets


async def assistant_text(chat: AgentChat) -> str:
    history = await chat.history()
    assert history and history[-1].role == "assistant"
    return history[-1].text()


async def sticky_timeouts(settings: Settings, chat_id: str) -> int:
    """Workflow tasks that waited in vain on a gone worker's sticky queue."""
    client = await get_temporal(settings)
    history = await client.get_workflow_handle(workflow_id_for(chat_id)).fetch_history()
    return sum(
        1
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
        and event.workflow_task_timed_out_event_attributes.timeout_type
        == TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START
    )


async def turn_with_standby(
    settings: Settings,
    worker_process: Callable[..., WorkerProcess],
    first_env: dict[str, str],
    second_env: dict[str, str],
) -> tuple[WorkerProcess, AgentChat, ChatStream, AsyncIterator[Chunk], list[str]]:
    """A turn streaming on a first worker, its first words read, and a second worker ready.

    Returns the first worker, the chat, the turn's stream, its chunk iterator and the text so far.
    """
    first = worker_process(env=first_env)
    await first.wait_ready()
    chat = chat_for(settings)
    stream = await chat.send_message("a long answer please")
    chunks = aiter(stream)
    text = await first_text(chunks)
    second = worker_process(env=second_env)
    await second.wait_ready()
    return first, chat, stream, chunks, text


async def test_sigterm_lets_the_running_turn_finish_and_hands_the_chat_over(
    settings: Settings, worker_process: Callable[..., WorkerProcess]
) -> None:
    """Within the grace period the turn finishes on the draining worker, unrepeated; the
    next message goes straight to the other worker, not via a sticky-queue timeout."""
    first, chat, stream, chunks, text = await turn_with_standby(
        settings,
        worker_process,
        {"SLOW_RATE": "30", "AGENTCHAT_SHUTDOWN_GRACE": "60"},
        {"SLOW_RATE": "30"},
    )

    first.terminate()
    resets = await rest(chunks, text)
    assert stream.status == "completed" and resets == 0
    assert "".join(text) == await assistant_text(chat)
    assert await first.wait_exit(within=60) == 0
    assert b"draining" in first.log.read_bytes()

    follow_up = await (await chat.send_message("and again")).result()
    assert follow_up.status == "completed" and follow_up.turn == 2
    assert await sticky_timeouts(settings, chat.id) == 0


async def test_a_step_outliving_the_grace_moves_to_another_worker(
    settings: Settings, worker_process: Callable[..., WorkerProcess]
) -> None:
    """Past the grace period the step is cancelled as a retryable failure (not a stop): the
    other worker answers again, and readers drop the superseded attempt's words."""
    first, chat, stream, chunks, text = await turn_with_standby(
        settings,
        worker_process,
        {"SLOW_RATE": "8", "AGENTCHAT_SHUTDOWN_GRACE": "1"},
        {"SLOW_RATE": "40"},
    )

    first.terminate()
    assert await first.wait_exit(within=30) == 0
    resets = await rest(chunks, text)
    assert stream.status == "completed", "a drained step must not read as a stop"
    assert resets == 1
    assert "".join(text) == await assistant_text(chat)
    assert len(await assistant_text(chat)) > 200  # the whole answer, not a partial one


async def test_sigterm_ends_gateway_streams_and_clients_resume_on_another(
    settings: Settings,
    worker_process: Callable[..., WorkerProcess],
    gateway_process: Callable[..., GatewayProcess],
) -> None:
    """A draining gateway ends its open streams at once instead of holding them for the
    grace period; the client resumes on the other replica with every word exactly once."""
    worker = worker_process(env={"SLOW_RATE": "20"})
    leaving = gateway_process(env={"AGENTCHAT_SHUTDOWN_GRACE": "120"})
    staying = gateway_process()
    await worker.wait_ready()
    await leaving.wait_ready()
    await staying.wait_ready()

    # A load balancer that stops routing to a replica once it is told to go.
    route = {"url": leaving.url}
    chat = chat_for(settings, base_url=lambda endpoint, chat_id: route["url"], api_key=GATEWAY_KEY)
    stream = await chat.send_message("a long answer please")
    chunks = aiter(stream)
    text = await first_text(chunks)
    route["url"] = staying.url
    leaving.terminate()
    resets = await rest(chunks, text)
    assert stream.status == "completed" and resets == 0
    assert "".join(text) == await assistant_text(chat)
    # Ended streams let it exit long before its 120 s grace.
    assert await leaving.wait_exit(within=30) == 0
