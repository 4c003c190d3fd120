"""Per-tool display modes: what clients see of a tool's calls (the stream, its raw Redis
entries), while the model and the transcript get everything."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from agentchat import Agent, AgentChat
from agentchat.errors import ConfigurationError
from agentchat.mcp import mcp_tools
from agentchat.models.openai import OpenAIModel
from agentchat.protocol.contracts import Display
from agentchat.protocol.envelope import CHUNK, CHUNK_KEY, kind_of
from agentchat.protocol.messages import MessageBuilder
from agentchat.protocol.tool_display import (
    HIDDEN_ERROR,
    client_tool_chunk,
    display_metadata,
    marked_tool_chunk,
)
from agentchat.stream._store import chat_keys
from agentchat.subagents import agent_tool
from agentchat.testing import FakeOpenAIServer, FakeToolCall
from agentchat.tools import ToolContext, client_tool, tool
from tests.conftest import StartWorker

NewChat = Callable[..., AgentChat]
DESCRIPTION = "Look up a city's secret."
SECRET = "s3cr3t-output"
ARGUMENT = "Atlantis-argument"


def scripted(server: FakeOpenAIServer, *replies: Any) -> None:
    """The model answers the n-th request with replies[n] (the last one from then on)."""
    left = list(replies)
    server.reply = lambda messages: left.pop(0) if len(left) > 1 else left[0]


def model(server: FakeOpenAIServer) -> OpenAIModel:
    return OpenAIModel("gpt-test", base_url=server.base_url)


async def raw_chunks(redis: Redis, chat_id: str) -> list[dict[str, Any]]:
    """Every chunk the chat's Redis stream holds, from its envelopes as stored."""
    rows = await redis.xrange(chat_keys(chat_id)[0], "-", "+")
    assert rows is not None
    chunks = []
    for _, fields in rows:
        assert fields is not None
        for value in fields.values():
            envelope = orjson.loads(value)
            if isinstance(envelope, dict) and kind_of(envelope) == CHUNK:
                chunks.append(envelope[CHUNK_KEY])
    return chunks


def of_call(chunks: list[dict[str, Any]], call_id: str) -> list[dict[str, Any]]:
    return [c for c in chunks if c.get("toolCallId") == call_id]


# -- pure logic ---------------------------------------------------------------------------------


def test_display_metadata_for_clients_and_for_the_transcript() -> None:
    assert display_metadata("name", "d", client=True) == {"agentchat": {"display": "name"}}
    assert display_metadata("description", "d", client=True) == {
        "agentchat": {"display": "description", "description": "d"}
    }
    for display in ("hidden", "name", "description"):
        assert display_metadata(display, "d", client=False) == {
            "agentchat": {"display": display, "description": "d"}
        }


START: dict[str, Any] = {"type": "tool-input-start", "toolCallId": "c", "toolName": "t"}
DELTA: dict[str, Any] = {"type": "tool-input-delta", "toolCallId": "c", "inputTextDelta": '{"a'}
AVAILABLE: dict[str, Any] = {
    "type": "tool-input-available",
    "toolCallId": "c",
    "toolName": "t",
    "input": {"a": 1},
}
INPUT_ERROR: dict[str, Any] = {
    "type": "tool-input-error",
    "toolCallId": "c",
    "toolName": "t",
    "input": "{bad",
    "errorText": "not JSON: {bad",
}
OUTPUT: dict[str, Any] = {"type": "tool-output-available", "toolCallId": "c", "output": {"x": 1}}
PROGRESS: dict[str, Any] = {**OUTPUT, "preliminary": True}
ERROR: dict[str, Any] = {
    "type": "tool-output-error",
    "toolCallId": "c",
    "errorText": "KeyError: secret",
}
APPROVAL: dict[str, Any] = {"type": "tool-approval-request", "approvalId": "a", "toolCallId": "c"}
DENIED: dict[str, Any] = {"type": "tool-output-denied", "toolCallId": "c"}
ALL: list[dict[str, Any]] = [
    START,
    DELTA,
    AVAILABLE,
    INPUT_ERROR,
    OUTPUT,
    PROGRESS,
    ERROR,
    APPROVAL,
    DENIED,
]


def test_stream_shows_every_chunk_as_it_is_and_hidden_none() -> None:
    for chunk in ALL:
        assert client_tool_chunk(chunk, "stream", "d") is chunk
        assert client_tool_chunk(chunk, "hidden", "d") is None
        assert marked_tool_chunk(chunk, "stream", "d") is chunk


@pytest.mark.parametrize("display", ["name", "description"])
def test_name_and_description_show_that_the_call_ran_not_its_data(display: Display) -> None:
    marker = display_metadata(display, "d", client=True)
    shown = {
        c["type"] + ("+" if c.get("preliminary") else ""): client_tool_chunk(c, display, "d")
        for c in ALL
    }
    assert shown["tool-input-start"] == {**START, "providerMetadata": marker}
    assert shown["tool-input-delta"] is None
    assert shown["tool-input-available"] == {**AVAILABLE, "input": {}, "providerMetadata": marker}
    assert shown["tool-input-error"] == {
        **INPUT_ERROR,
        "input": {},
        "errorText": HIDDEN_ERROR,
        "providerMetadata": marker,
    }
    assert shown["tool-output-available"] == {**OUTPUT, "output": None}
    assert shown["tool-output-available+"] is None
    assert shown["tool-output-error"] == {**ERROR, "errorText": "the tool failed"}
    assert shown["tool-approval-request"] is APPROVAL
    assert shown["tool-output-denied"] is DENIED
    # A client tool's caller runs the call: it gets the whole input.
    assert client_tool_chunk(AVAILABLE, display, "d", client_runs=True) == {
        **AVAILABLE,
        "providerMetadata": marker,
    }
    # The inputs given are left alone.
    assert AVAILABLE["input"] == {"a": 1} and "providerMetadata" not in AVAILABLE


def test_the_transcript_folds_a_call_whole_with_its_marker() -> None:
    builder = MessageBuilder("m")
    for chunk in (START, DELTA, AVAILABLE, OUTPUT):
        builder.apply_wire(marked_tool_chunk(chunk, "hidden", "d"))
    assert builder.parts == [
        {
            "type": "tool-t",
            "toolCallId": "c",
            "state": "output-available",
            "input": {"a": 1},
            "output": {"x": 1},
            "callProviderMetadata": {"agentchat": {"display": "hidden", "description": "d"}},
        }
    ]
    plain = MessageBuilder("m")
    for chunk in (START, AVAILABLE, OUTPUT):
        plain.apply_wire(chunk)
    assert "callProviderMetadata" not in plain.parts[0]


# -- definition time ----------------------------------------------------------------------------


def test_displays_are_checked_when_tools_are_defined() -> None:
    async def f(x: str) -> str:
        """F."""
        return x

    assert tool(f).display == "stream"
    assert tool(display="hidden")(f).display == "hidden"
    assert client_tool("pick", "Pick.", display="name").display == "name"
    assert agent_tool("researcher", display="description").display == "description"
    with pytest.raises(ConfigurationError, match="hidden tool cannot require approval"):
        tool(display="hidden", requires_approval=True)(f)
    with pytest.raises(ConfigurationError, match="client tool cannot be hidden"):
        client_tool("pick", "Pick.", display="hidden")
    with pytest.raises(ConfigurationError, match="display must be one of"):
        tool(display="loud")(f)  # type: ignore[call-overload]
    with pytest.raises(ConfigurationError, match="hidden tools cannot require approval"):
        mcp_tools("http://127.0.0.1:1/mcp", display="hidden", approval={"delete"})
    with pytest.raises(ConfigurationError, match="display must be one of"):
        mcp_tools("http://127.0.0.1:1/mcp", display="shown")  # type: ignore[arg-type]
    assert mcp_tools("http://127.0.0.1:1/mcp", display="hidden").display == "hidden"
    agent = Agent(name="a", model="offline", tools=[tool(display="name")(f)])
    assert [t.display for t in agent.spec().tools] == ["name"]


# -- against Temporal, Redis and the fake model ---------------------------------------------------


@pytest.mark.parametrize("display", ["hidden", "name", "description", "stream"])
async def test_what_clients_see_of_a_server_tool(
    display: Display,
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    redis: Redis,
) -> None:
    @tool(display=display, description=DESCRIPTION)
    async def lookup(city: str, ctx: ToolContext) -> dict[str, str]:
        ctx.progress({"partial": SECRET})
        return {"city": city, "secret": SECRET}

    scripted(
        model_server,
        [FakeToolCall("lookup", json.dumps({"city": ARGUMENT}), "c1")],
        "Done.",
    )
    await start_worker(Agent(name="echo", model=model(model_server), tools=[lookup]))
    chat = new_chat()
    stream = await chat.send_message("look it up")
    seen = [c.to_wire() async for c in stream]
    result = await stream.result()
    assert result.text == "Done."
    stored = await raw_chunks(redis, chat.id)
    calls = of_call(stored, "c1")
    # The reader passes the stored chunks on (its typed chunks leave out null fields).
    assert of_call(seen, "c1") == [{k: v for k, v in c.items() if v is not None} for c in calls]

    # The model got the output whatever the display.
    tool_message = next(m for m in model_server.requests[1]["messages"] if m["role"] == "tool")
    assert json.loads(tool_message["content"]) == {"city": ARGUMENT, "secret": SECRET}
    # The transcript has the whole call, marked unless streamed.
    history = await chat.history()
    part = next(p for p in history[1].parts if p.get("toolCallId") == "c1")
    assert part["type"] == "tool-lookup" and part["state"] == "output-available"
    assert part["input"] == {"city": ARGUMENT}
    assert part["output"] == {"city": ARGUMENT, "secret": SECRET}

    if display == "stream":
        assert "callProviderMetadata" not in part
        types = [c["type"] for c in calls]
        assert types[0] == "tool-input-start" and "tool-input-delta" in types
        assert [c for c in calls if c.get("preliminary")] == [
            {
                "type": "tool-output-available",
                "toolCallId": "c1",
                "output": {"partial": SECRET},
                "preliminary": True,
            }
        ]
        assert calls[-1]["output"] == {"city": ARGUMENT, "secret": SECRET}
        assert not any("providerMetadata" in c for c in calls)
        return

    assert part["callProviderMetadata"] == {
        "agentchat": {"display": display, "description": DESCRIPTION}
    }
    if display == "hidden":
        assert calls == []
        assert not any("toolCallId" in c for c in stored)  # no tool chunk at all
        assert not any(word in json.dumps(stored) for word in ("lookup", ARGUMENT, SECRET))
        assert result.tool_calls == [] and result.tool_results == []
        return

    marker = display_metadata(display, DESCRIPTION, client=True)
    assert calls == [
        {
            "type": "tool-input-start",
            "toolCallId": "c1",
            "toolName": "lookup",
            "providerMetadata": marker,
        },
        {
            "type": "tool-input-available",
            "toolCallId": "c1",
            "toolName": "lookup",
            "input": {},
            "providerMetadata": marker,
        },
        {"type": "tool-output-available", "toolCallId": "c1", "output": None},
    ]
    assert not any(ARGUMENT in json.dumps(c) or SECRET in json.dumps(c) for c in stored)
    # What a client folds of the stream: the marker, no data.
    shown = next(p for p in result.message.parts if p.get("toolCallId") == "c1")
    assert shown["input"] == {} and shown["output"] is None
    assert shown["callProviderMetadata"] == marker


async def test_a_failed_call_shows_a_generic_error(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    redis: Redis,
) -> None:
    @tool(display="name")
    async def lookup(city: str) -> str:
        """Look up a city."""
        raise KeyError(SECRET)

    scripted(
        model_server,
        [FakeToolCall("lookup", json.dumps({"city": ARGUMENT}), "c1")],
        [FakeToolCall("lookup", '{"town": 1}', "c2")],
        [FakeToolCall("lookup", '{"city": "', "c3")],
        "Sorry.",
    )
    await start_worker(Agent(name="echo", model=model(model_server), tools=[lookup]))
    chat = new_chat()
    stream = await chat.send_message("look it up")
    seen = [c.to_wire() async for c in stream]
    assert (await stream.result()).text == "Sorry."
    ends = [c for c in seen if c["type"] in ("tool-output-error", "tool-input-error")]
    assert [(c["toolCallId"], c["errorText"]) for c in ends] == [
        ("c1", HIDDEN_ERROR),
        ("c2", HIDDEN_ERROR),
        ("c3", HIDDEN_ERROR),
    ]
    assert ends[2]["input"] == {}
    stored = await raw_chunks(redis, chat.id)
    assert not any(SECRET in json.dumps(c) or ARGUMENT in json.dumps(c) for c in stored)
    # The model and the transcript get the real errors.
    errors = [m["content"] for m in model_server.requests[-1]["messages"] if m["role"] == "tool"]
    assert errors[0] == f"Error: KeyError: '{SECRET}'"
    assert errors[1].startswith("Error: invalid arguments for lookup")
    assert errors[2].startswith("Error: arguments for lookup are not valid JSON")
    history = await chat.history()
    parts = [p for p in history[1].parts if p["type"] == "tool-lookup"]
    assert [p["state"] for p in parts] == ["output-error"] * 3
    assert parts[0]["errorText"] == f"KeyError: '{SECRET}'"
    assert parts[2]["input"] == '{"city": "'
    assert all(p["callProviderMetadata"]["agentchat"]["display"] == "name" for p in parts)


async def test_a_client_tool_shown_by_name_gets_its_input_not_its_output_streamed(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    redis: Redis,
) -> None:
    scripted(
        model_server,
        [FakeToolCall("pick_color", json.dumps({"palette": ARGUMENT}), "p1")],
        "Picked.",
    )
    pick = client_tool("pick_color", "Pick a color.", display="name")
    await start_worker(Agent(name="echo", model=model(model_server), tools=[pick]))
    chat = new_chat()
    stream = await chat.send_message("pick one")
    seen = []
    async for chunk in stream:
        seen.append(chunk.to_wire())
        if chunk.type == "tool-input-available":
            await chat.submit_tool_result("p1", {"color": SECRET})
    assert (await stream.result()).text == "Picked."
    marker = {"agentchat": {"display": "name"}}
    stored = await raw_chunks(redis, chat.id)
    assert [c["type"] for c in of_call(seen, "p1")] == [c["type"] for c in of_call(stored, "p1")]
    assert of_call(stored, "p1") == [
        {
            "type": "tool-input-start",
            "toolCallId": "p1",
            "toolName": "pick_color",
            "providerMetadata": marker,
        },
        {
            "type": "tool-input-available",
            "toolCallId": "p1",
            "toolName": "pick_color",
            "input": {"palette": ARGUMENT},
            "providerMetadata": marker,
        },
        {"type": "tool-output-available", "toolCallId": "p1", "output": None},
    ]
    assert not any(SECRET in json.dumps(c) for c in stored)
    tool_message = next(m for m in model_server.requests[1]["messages"] if m["role"] == "tool")
    assert json.loads(tool_message["content"]) == {"color": SECRET}
    part = next(p for p in (await chat.history())[1].parts if p.get("toolCallId") == "p1")
    assert part["output"] == {"color": SECRET}
    assert part["callProviderMetadata"]["agentchat"]["display"] == "name"


async def test_an_approval_shows_for_a_tool_shown_by_description(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    @tool(display="description", requires_approval=True, description=DESCRIPTION)
    async def delete_file(path: str) -> str:
        return f"deleted {path}"

    scripted(
        model_server,
        [FakeToolCall("delete_file", json.dumps({"path": ARGUMENT}), "d1")],
        "Deleted.",
    )
    await start_worker(Agent(name="echo", model=model(model_server), tools=[delete_file]))
    chat = new_chat()
    stream = await chat.send_message("delete it")
    seen = []
    async for chunk in stream:
        seen.append(chunk.to_wire())
        if chunk.type == "tool-approval-request":
            await chat.approve(chunk.approval_id)  # type: ignore[attr-defined]
    assert (await stream.result()).text == "Deleted."
    calls = of_call(seen, "d1")
    assert [c["type"] for c in calls] == [
        "tool-input-start",
        "tool-input-available",
        "tool-approval-request",
        "tool-output-available",
    ]
    assert calls[1]["input"] == {} and calls[3].get("output") is None
    assert calls[1]["providerMetadata"] == {
        "agentchat": {"display": "description", "description": DESCRIPTION}
    }
    part = next(p for p in (await chat.history())[1].parts if p.get("toolCallId") == "d1")
    assert part["output"] == f"deleted {ARGUMENT}" and part["approval"]["approved"] is True
