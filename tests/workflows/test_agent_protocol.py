"""Inputs, resources and triggers end to end: real Temporal, Redis and a loopback model."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from agentchat import Agent, AgentChat
from agentchat.errors import InvalidInputsError, InvalidTriggerError
from agentchat.models.openai import OpenAIModel
from agentchat.protocol.chunks import DataChunk
from agentchat.testing import FakeOpenAIServer
from agentchat.testing.openai_server import FakeToolCall
from agentchat.tools import ToolContext, tool
from agentchat.triggers import AddMessage, CallTool, Resource, Respond, SetResource, Trigger
from tests.conftest import StartWorker

NewChat = Callable[..., AgentChat]


class Company(BaseModel):
    COMPANY_NAME: str
    PLAN: str = "free"


class Reason(BaseModel):
    REASON: str


@tool
async def note(text: str, ctx: ToolContext) -> str:
    """Keep a note."""
    ctx.set_resource("NOTES", f"{text} for {ctx.inputs['COMPANY_NAME']}")
    return "noted"


@tool
async def open_ticket(reason: str, ctx: ToolContext) -> dict[str, str]:
    """Open a support ticket."""
    return {"id": f"T-{ctx.turn}", "reason": reason, "company": ctx.inputs["COMPANY_NAME"]}


def support_agent(server: FakeOpenAIServer, **kwargs: Any) -> Agent:
    return Agent(
        name="support",
        model=OpenAIModel("gpt-test", base_url=server.base_url),
        instructions="You help {{COMPANY_NAME}} on {{PLAN}}. Summary: {{SUMMARY}}",
        inputs=Company,
        tools=[note, open_ticket],
        resources=[
            Resource("SUMMARY", default="", description="the chat so far", model_writable=True),
            Resource("NOTES", default=""),
        ],
        triggers=[
            Trigger(
                "request-human",
                "The user wants a person",
                input=Reason,
                steps=[
                    AddMessage("user", "Escalate: {{REASON}} for {{COMPANY_NAME}}", hidden=True),
                    CallTool("open_ticket", {"reason": "{{REASON}}"}, into="TICKET"),
                    SetResource("SUMMARY", "ticket {{TICKET.id}}: {{TICKET.reason}}"),
                    AddMessage("assistant", "Ticket {{TICKET.id}} opened"),
                    Respond(),
                ],
            ),
            Trigger("ping", steps=[Respond()]),
        ],
        **kwargs,
    )


def reply(messages: list[dict[str, Any]]) -> str | list[FakeToolCall]:
    if messages[-1]["role"] == "tool":
        return "done"
    last = next(m for m in reversed(messages) if m["role"] == "user")
    text = str(last["content"])
    if text == "set summary":
        return [FakeToolCall("set_resource", json.dumps({"name": "SUMMARY", "value": "by model"}))]
    if text == "take a note":
        return [FakeToolCall("note", json.dumps({"text": "a note"}))]
    if text.startswith("Escalate"):
        return "A human will help"
    return f"Echo: {text}"


def system_prompt(server: FakeOpenAIServer) -> str:
    first = server.requests[-1]["messages"][0]
    assert first["role"] == "system"
    return str(first["content"])


def resource_chunks(chunks: list[Any]) -> dict[str, Any]:
    return {
        c.data["name"]: c.data["value"]
        for c in chunks
        if isinstance(c, DataChunk) and c.type == "data-resource"
    }


async def test_inputs_resources_and_a_trigger_with_every_block(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    model_server.reply = reply
    await start_worker(support_agent(model_server))
    chat = new_chat(agent="support", inputs={"COMPANY_NAME": "Acme"})
    assert await chat.resources() == {}  # no chat yet
    assert await (await chat.send_message("hello")).text() == "Echo: hello"
    assert system_prompt(model_server) == "You help Acme on free. Summary: "
    assert await chat.resources() == {"SUMMARY": "", "NOTES": ""}

    # Written by the model (the built-in tool) and by a tool: each change is a chunk.
    stream = await chat.send_message("set summary")
    chunks = [c async for c in stream]
    assert resource_chunks(chunks) == {"SUMMARY": "by model"}
    stream = await chat.send_message("take a note")
    chunks = [c async for c in stream]
    assert resource_chunks(chunks) == {"NOTES": "a note for Acme"}
    assert await chat.resources() == {"SUMMARY": "by model", "NOTES": "a note for Acme"}

    # A trigger: hidden message, tool into a variable, resource, shown message, respond.
    stream = await chat.trigger("request-human", {"REASON": "angry"})
    chunks = [c async for c in stream]
    result = await stream.result()
    assert stream.turn == 4
    wire = json.dumps([c.model_dump(mode="json") for c in chunks])
    assert "Escalate" not in wire  # the hidden message streams nothing
    assert resource_chunks(chunks) == {"SUMMARY": "ticket T-4: angry"}
    shown = [c for c in chunks if isinstance(c, DataChunk) and c.type == "data-message"]
    assert [c.data for c in shown] == [{"role": "assistant", "text": "Ticket T-4 opened"}]
    assert result.text == "A human will help"
    prompt = model_server.requests[-1]["messages"]
    assert prompt[0]["content"] == "You help Acme on free. Summary: ticket T-4: angry"
    assert prompt[-2:] == [  # the model saw the hidden message, then the shown one
        {"role": "user", "content": "Escalate: angry for Acme"},
        {"role": "assistant", "content": "Ticket T-4 opened"},
    ]
    resources = {"SUMMARY": "ticket T-4: angry", "NOTES": "a note for Acme"}
    assert await chat.resources() == resources
    history = await chat.history()
    assert [m.role for m in history[-3:]] == ["user", "assistant", "assistant"]
    assert history[-3].metadata == {"hidden": True}
    assert all(p.get("type") != "data-trigger" for m in history for p in m.parts)

    # Kept after the run ends, and restored (with the inputs) by the next run.
    await chat.close(wait=True)
    assert await chat.resources() == resources
    later = new_chat(agent="support", id=chat.id)  # no inputs: the chat kept its own
    assert await (await later.send_message("again")).text() == "Echo: again"
    assert system_prompt(model_server) == "You help Acme on free. Summary: ticket T-4: angry"
    assert await later.resources() == resources


async def test_bad_inputs_and_triggers_are_refused_before_anything_is_queued(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    await start_worker(support_agent(model_server))
    with pytest.raises(InvalidInputsError, match="COMPANY_NAME: Field required"):
        await new_chat(agent="support").send_message("hello")
    with pytest.raises(InvalidInputsError, match="PLAN: Input should be a valid string"):
        await new_chat(agent="support", inputs={"COMPANY_NAME": "A", "PLAN": 3}).send_message("x")
    # A trigger as a new chat's first input is checked once the run knows its agent.
    with pytest.raises(InvalidTriggerError, match="no trigger 'nope'"):
        await new_chat(agent="support", inputs={"COMPANY_NAME": "A"}).trigger("nope")

    chat = new_chat(agent="support", inputs={"COMPANY_NAME": "A"})
    await (await chat.send_message("hello")).text()
    cases: list[tuple[str, dict[str, Any] | None, str]] = [
        ("nope", None, "has no trigger 'nope' \\(its triggers: request-human, ping\\)"),
        ("request-human", None, "input.REASON: missing"),
        ("request-human", {"REASON": 5}, "input.REASON: expected string, got int"),
        ("ping", {"X": 1}, "trigger 'ping' takes no input"),
    ]
    for name, value, error in cases:
        with pytest.raises(InvalidTriggerError, match=error):
            await chat.trigger(name, value)
    status = await chat.status()
    assert status is not None and status.queued == 0 and status.last_turn == 1


async def test_a_trigger_during_a_turn_queues_like_a_message(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    model_server.token_delay = 0.02
    model_server.reply = lambda messages: "slow " * 20
    await start_worker(support_agent(model_server))
    chat = new_chat(agent="support", inputs={"COMPANY_NAME": "A"})
    first = await chat.send_message("go")
    async for chunk in first:
        if chunk.type == "text-delta":
            break
    triggered = await chat.trigger("ping", trigger_id="ping-1")
    again = await chat.trigger("ping", trigger_id="ping-1")  # a resend: the same turn
    assert (await first.text()).strip().startswith("slow")
    text = await triggered.text()
    assert triggered.turn == 2 and text.startswith("slow")
    assert await again.text() == text and again.turn == 2
    status = await chat.status()
    assert status is not None and status.last_turn == 2


async def test_a_stopped_trigger_turn_ends_its_blocks(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    model_server.token_delay = 0.02
    model_server.reply = lambda messages: "long " * 200
    await start_worker(support_agent(model_server))
    chat = new_chat(agent="support", inputs={"COMPANY_NAME": "A"})
    stream = await chat.trigger("request-human", {"REASON": "now"})
    async for chunk in stream:
        if chunk.type == "text-delta":
            assert await chat.stop() == 1
            break
    for _ in range(300):
        status = await chat.status()
        if status is not None and status.active_turn is None:
            break
        await asyncio.sleep(0.1)
    history = await chat.history()
    assert (history[-1].metadata or {}).get("status") == "stopped"
    assert (await chat.resources())["SUMMARY"] == "ticket T-1: now"


async def test_resources_survive_a_worker_killed_mid_trigger(
    worker_process: Callable[..., Any], new_chat: NewChat
) -> None:
    first = worker_process()
    chat = new_chat(agent="keeper", inputs={"NAME": "Ada"})
    stream = await chat.send_message("remember the sky is green")  # the tool sets FACT
    chunks = [c async for c in stream]
    assert resource_chunks(chunks) == {"FACT": "remember the sky is green"}
    stream = await chat.trigger("label", {"LABEL": "vip"})  # the block sets LABEL
    seen: list[Any] = []
    async for chunk in stream:
        seen.append(chunk)
        if sum(c.type == "text-delta" for c in seen) >= 3:
            first.kill()  # SIGKILL mid-answer: the next worker replays and retries the step
            break
    worker_process()
    await asyncio.wait_for(stream.result(), 60)
    assert resource_chunks(seen) == {"LABEL": "vip"}
    expected = {"FACT": "remember the sky is green", "LABEL": "vip"}
    assert await chat.resources() == expected
    await chat.close(wait=True)
    assert await chat.resources() == expected


async def test_a_trigger_resent_after_its_run_ended_is_still_a_duplicate(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    model_server.reply = reply
    await start_worker(support_agent(model_server))
    chat = new_chat(agent="support", inputs={"COMPANY_NAME": "A"})
    await (await chat.send_message("hello")).text()
    first = await chat.trigger("ping", trigger_id="ping-1")
    text = await first.text()
    await chat.close(wait=True)  # the next input restores the chat from the store
    later = new_chat(agent="support", id=chat.id)
    again = await later.trigger("ping", trigger_id="ping-1")  # a client's retry
    assert await again.text() == text and again.turn == 2
    status = await later.status()
    assert status is not None and status.last_turn == 2
