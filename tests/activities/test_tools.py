"""Tools as activities, client tools, approvals and sub-agents, against real services."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentchat import Agent, AgentChat
from agentchat.errors import ConfigurationError, NotPendingError
from agentchat.models import OfflineModel
from agentchat.models.openai import OpenAIModel
from agentchat.protocol.chunks import (
    ToolApprovalRequestChunk,
    ToolInputAvailableChunk,
    ToolOutputAvailableChunk,
)
from agentchat.subagents import agent_tool
from agentchat.testing import FakeOpenAIServer, FakeToolCall
from agentchat.tools import client_tool, tool
from tests.conftest import StartWorker

NewChat = Callable[..., AgentChat]
offline = OfflineModel(tokens_per_second=0, first_token_delay=0)


def scripted(server: FakeOpenAIServer, *replies: Any) -> None:
    """The model answers the n-th request of a turn with replies[n]."""
    replies_left = list(replies)

    def reply(messages: list[dict[str, Any]]) -> Any:
        return replies_left.pop(0) if len(replies_left) > 1 else replies_left[0]

    server.reply = reply


def model(server: FakeOpenAIServer) -> OpenAIModel:
    return OpenAIModel("gpt-test", base_url=server.base_url)


def test_tool_schema_comes_from_hints_and_docstring() -> None:
    @tool
    def lookup(user_id: str, limit: int = 5) -> dict[str, Any]:
        """Look up a user's account.

        Args:
            user_id: The account id.
            limit: How many rows.
        """
        return {}

    assert lookup.name == "lookup" and lookup.description == "Look up a user's account."
    assert lookup.parameters["required"] == ["user_id"]
    assert lookup.parameters["properties"]["limit"] == {
        "default": 5,
        "description": "How many rows.",
        "title": "Limit",
        "type": "integer",
    }
    with pytest.raises(ValueError, match="user_id: Field required"):
        lookup.validate({"limit": 1})
    with pytest.raises(ValueError, match="extra_arg: Extra inputs are not permitted"):
        lookup.validate({"user_id": "u", "extra_arg": 1})
    with pytest.raises(ConfigurationError, match="tools named twice"):
        Agent(name="twice", tools=[lookup, lookup])
    with pytest.raises(ConfigurationError, match="tool name"):
        client_tool("bad name!", "x")


async def test_parallel_tool_calls_both_reach_the_next_step(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    spans: dict[str, tuple[float, float]] = {}

    @tool
    async def get_weather(city: str) -> dict[str, Any]:
        """Weather for a city."""
        started = time.monotonic()
        await asyncio.sleep(0.5)
        spans["weather"] = (started, time.monotonic())
        return {"city": city, "temp": 21}

    @tool
    def get_time(zone: str) -> str:
        """Time in a zone (a sync tool runs in a thread)."""
        started = time.monotonic()
        time.sleep(0.5)
        spans["time"] = (started, time.monotonic())
        return f"12:00 {zone}"

    scripted(
        model_server,
        [
            FakeToolCall("get_weather", '{"city": "Paris"}', "c1"),
            FakeToolCall("get_time", '{"zone": "CET"}', "c2"),
        ],
        "It is 21 degrees at noon.",
    )
    await start_worker(Agent(name="echo", model=model(model_server), tools=[get_weather, get_time]))
    chat = new_chat()
    stream = await chat.send_message("weather and time in Paris?")
    types = [c.type async for c in stream]
    result = await stream.result()
    assert result.text == "It is 21 degrees at noon."
    assert spans["weather"][0] < spans["time"][1] and spans["time"][0] < spans["weather"][1]
    assert {c["toolName"] for c in result.tool_calls} == {"get_weather", "get_time"}
    assert {json.dumps(r["output"]) for r in result.tool_results} == {
        '{"city": "Paris", "temp": 21}',
        '"12:00 CET"',
    }
    assert types.count("tool-input-start") == 2 and types.count("tool-output-available") == 2
    assert types.count("tool-input-delta") >= 2 and types.count("start-step") == 2
    second = model_server.requests[1]
    assert [t["function"]["name"] for t in second["tools"]] == ["get_weather", "get_time"]
    tool_messages = [m for m in second["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["c1", "c2"]
    assert json.loads(tool_messages[0]["content"]) == {"city": "Paris", "temp": 21}
    history = await chat.history()
    parts = [p for p in history[1].parts if p["type"].startswith("tool-")]
    assert [p["state"] for p in parts] == ["output-available", "output-available"]


async def test_invalid_arguments_and_exceptions_go_back_to_the_model(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    @tool
    async def get_weather(city: str) -> str:
        """Weather for a city."""
        if city == "Atlantis":
            raise LookupError("no such city")
        return f"sunny in {city}"

    scripted(
        model_server,
        [FakeToolCall("get_weather", "{}", "bad")],
        [FakeToolCall("get_weather", '{"city": "Atlantis"}', "boom")],
        [FakeToolCall("get_weather", '{"city": "Oslo"', "json")],
        [FakeToolCall("get_weather", '{"city": "Oslo"}', "good")],
        "Sunny in Oslo.",
    )
    await start_worker(Agent(name="echo", model=model(model_server), tools=[get_weather]))
    stream = await new_chat().send_message("weather?")
    types = [c.type async for c in stream]
    assert (await stream.result()).text == "Sunny in Oslo."
    assert types.count("tool-output-error") == 2 and "tool-input-error" in types
    tool_messages = [
        m["content"] for m in model_server.requests[-1]["messages"] if m["role"] == "tool"
    ]
    assert tool_messages[0] == "Error: invalid arguments for get_weather: city: Field required"
    assert tool_messages[1] == "Error: LookupError: no such city"
    assert tool_messages[2].startswith("Error: arguments for get_weather are not valid JSON")
    assert tool_messages[3] == "sunny in Oslo"


async def test_max_steps_is_honoured(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    @tool
    async def again() -> str:
        """Always call me."""
        return "more"

    model_server.reply = lambda messages: [FakeToolCall("again", "{}")]
    await start_worker(Agent(name="echo", model=model(model_server), tools=[again], max_steps=3))
    result = await (await new_chat().send_message("loop")).result()
    assert len(model_server.requests) == 3
    assert result.finish_reason == "tool-calls" and len(result.tool_calls) == 3


async def test_unknown_tools_are_reported_to_the_model(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    scripted(model_server, [FakeToolCall("nope", "{}", "x")], "ok")
    await start_worker(Agent(name="echo", model=model(model_server)))
    assert await (await new_chat().send_message("hi")).text() == "ok"
    tool_message = next(m for m in model_server.requests[1]["messages"] if m["role"] == "tool")
    assert tool_message["content"] == "Error: unknown tool 'nope'; available tools: none"


async def test_worker_killed_during_a_slow_tool_retries_only_that_tool(
    worker_process: Callable[..., Any], new_chat: NewChat, tmp_path: Path
) -> None:
    first = worker_process()
    chat = new_chat(agent="tooly")
    stream = await chat.send_message("please run slow_tool")
    async for chunk in stream:
        if chunk.type == "tool-input-available":
            await asyncio.sleep(1.0)  # the tool has started
            first.kill()
            worker_process()
    result = await stream.result()
    assert result.text == "Here is what the tools returned: done: please run slow_tool"
    attempts = [json.loads(line) for line in (tmp_path / "tool.log").read_text().splitlines()]
    assert [a["attempt"] for a in attempts] == [1, 2]
    assert len({a["key"] for a in attempts}) == 1  # the same idempotency key
    history = await chat.history()
    assert [m.role for m in history] == ["user", "assistant"]
    assert [p["state"] for p in history[1].parts if p["type"] == "tool-slow_tool"] == [
        "output-available"
    ]


async def test_client_tool_answered_after_a_worker_restart(
    worker_process: Callable[..., Any], new_chat: NewChat
) -> None:
    first = worker_process()
    chat = new_chat(agent="clienty")
    stream = await chat.send_message("please pick color for the logo")
    call_id = None
    async for chunk in stream:
        if isinstance(chunk, ToolInputAvailableChunk):
            call_id = chunk.tool_call_id
            break
    assert call_id is not None
    first.kill()
    worker_process()
    assert await chat.submit_tool_result(call_id, {"color": "blue"}) == 1
    follow = await chat.reconnect()
    assert await follow.text() == 'Here is what the tools returned: {"color":"blue"}'
    with pytest.raises(NotPendingError, match="no client tool call 'call_1'"):
        await chat.submit_tool_result(call_id, "again")


async def test_client_tool_times_out_with_a_tool_error(
    start_worker: StartWorker, new_chat: NewChat
) -> None:
    from datetime import timedelta

    await start_worker(
        Agent(
            name="c",
            model=offline,
            tools=[client_tool("pick_color", "Pick one.", timeout=timedelta(seconds=1))],
        )
    )
    result = await (await new_chat(agent="c").send_message("pick color")).result()
    assert (
        result.text == "Here is what the tools returned: Error: no result from the client within 1s"
    )


async def test_approvals(start_worker: StartWorker, new_chat: NewChat) -> None:
    deleted: list[str] = []

    @tool(requires_approval=True)
    async def delete_file(path: str) -> str:
        """Delete a file."""
        deleted.append(path)
        return "deleted"

    await start_worker(Agent(name="ops", model=offline, tools=[delete_file]))
    chat = new_chat(agent="ops")
    stream = await chat.send_message("delete file notes.txt")
    async for chunk in stream:
        if isinstance(chunk, ToolApprovalRequestChunk):
            assert await chat.approve(chunk.approval_id) == 1
    assert (await stream.result()).text.endswith("deleted")
    assert deleted == ["delete file notes.txt"]

    denied = await chat.send_message("delete file secrets.txt")
    async for chunk in denied:
        if isinstance(chunk, ToolApprovalRequestChunk):
            with pytest.raises(NotPendingError):
                await chat.approve("approval-unknown")
            await chat.deny(chunk.approval_id, "not that one")
    types_text = (await denied.result()).text
    assert (
        types_text
        == "Here is what the tools returned: The user denied this tool call: not that one"
    )
    assert deleted == ["delete file notes.txt"]
    history = await chat.history()
    part = next(p for p in history[3].parts if p["type"] == "tool-delete_file")
    assert part["state"] == "output-denied"
    assert part["approval"] == {
        "id": part["approval"]["id"],
        "approved": False,
        "reason": "not that one",
    }


async def test_sub_agent_progress_streams_as_preliminary_output(
    start_worker: StartWorker, new_chat: NewChat
) -> None:
    researcher = Agent(
        name="researcher", model=OfflineModel(tokens_per_second=50, first_token_delay=0, words=20)
    )
    lead = Agent(name="lead", model=offline, tools=[agent_tool("researcher", persistent=True)])
    await start_worker(researcher, lead)
    chat = new_chat(agent="lead")
    stream = await chat.send_message("please ask researcher about tides")
    preliminary = []
    async for chunk in stream:
        if isinstance(chunk, ToolOutputAvailableChunk) and chunk.preliminary:
            preliminary.append(chunk.output)
    assert len(preliminary) > 3
    texts = ["".join(p.get("text", "") for p in snap["parts"]) for snap in preliminary]
    assert texts == sorted(texts, key=len) and texts[-1].startswith("You said: please ask")
    result = await stream.result()
    assert result.text.startswith("Here is what the tools returned: You said: please ask")
    sub = AgentChat(agent="researcher", id=f"{chat.id}.ask_researcher", settings=chat.settings)
    assert len(await sub.history()) == 2
    await chat.close(wait=True)  # closes the persistent sub-chat it owns
    for _ in range(50):
        status = await sub.status()
        if status is not None and status.closed:
            break
        await asyncio.sleep(0.1)
    assert status is not None and status.closed


async def test_parent_killed_mid_delegation_does_not_repeat_the_sub_turn(
    worker_process: Callable[..., Any], new_chat: NewChat
) -> None:
    first = worker_process()
    chat = new_chat(agent="lead")
    stream = await chat.send_message("ask researcher to summarise the report")
    seen = 0
    async for chunk in stream:
        if isinstance(chunk, ToolOutputAvailableChunk) and chunk.preliminary:
            seen += 1
            if seen == 3:
                first.kill()
                worker_process()
    result = await stream.result()
    assert result.text.startswith("Here is what the tools returned: You said: ask researcher")
    assert "[stopped]" not in result.text
    sub_id = next(c["toolCallId"] for c in result.tool_calls)
    sub = AgentChat(
        agent="researcher", id=f"{chat.id}.ask_researcher.t1s1.{sub_id}", settings=chat.settings
    )
    history = await sub.history()
    assert [m.role for m in history] == ["user", "assistant"]  # one turn, not two


async def test_stopping_the_parent_stops_the_sub_agent(
    start_worker: StartWorker, new_chat: NewChat
) -> None:
    researcher = Agent(
        name="researcher", model=OfflineModel(tokens_per_second=10, first_token_delay=0, words=200)
    )
    lead = Agent(name="lead", model=offline, tools=[agent_tool("researcher")])
    await start_worker(researcher, lead)
    chat = new_chat(agent="lead")
    stream = await chat.send_message("ask researcher everything")
    call_id = None
    async for chunk in stream:
        if isinstance(chunk, ToolOutputAvailableChunk) and chunk.preliminary and call_id is None:
            call_id = chunk.tool_call_id
            await chat.stop()
    assert (await stream.result()).status == "stopped"
    sub = AgentChat(
        agent="researcher", id=f"{chat.id}.ask_researcher.t1s1.{call_id}", settings=chat.settings
    )
    for _ in range(100):
        history = await sub.history()
        if len(history) == 2 and history[1].metadata:
            break
        await asyncio.sleep(0.1)
    assert history[1].metadata == {"status": "stopped"}
    assert len(history[1].text().split()) < 150


async def test_closing_ends_a_wait_for_a_person(
    start_worker: StartWorker, new_chat: NewChat
) -> None:
    """close() ends the run after the current turn, even one waiting for an approval."""

    @tool(requires_approval=True)
    async def delete_file(path: str) -> str:
        """Delete a file."""
        return "deleted"

    await start_worker(Agent(name="ops", model=offline, tools=[delete_file]))
    chat = new_chat(agent="ops")
    stream = await chat.send_message("delete file x")
    async for chunk in stream:
        if chunk.type == "tool-approval-request":
            await asyncio.wait_for(chat.close(wait=True), 30)
    result = await stream.result()
    assert "the chat was closed before the approval" in result.text


async def test_client_tool_arguments_are_validated(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    from pydantic import BaseModel

    class Pick(BaseModel):
        palette: list[str]

    scripted(model_server, [FakeToolCall("pick_color", '{"palette": "red"}', "p1")], "sorry")
    await start_worker(
        Agent(
            name="echo",
            model=model(model_server),
            tools=[client_tool("pick_color", "Pick one.", Pick)],
        )
    )
    stream = await new_chat().send_message("pick")
    types = [c.type async for c in stream]
    assert "tool-input-error" in types and (await stream.result()).text == "sorry"
    tool_message = next(m for m in model_server.requests[1]["messages"] if m["role"] == "tool")
    assert tool_message["content"].startswith("Error: invalid arguments for pick_color: palette")
