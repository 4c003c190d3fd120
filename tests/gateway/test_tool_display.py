"""`/api/chat` (the AI SDK's UI message stream) shows clients what a tool's display allows:
nothing of a hidden tool, the name of a tool shown by name (chunks cut to what the AI SDK's
strict schema takes)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agentchat import Agent, Settings
from agentchat.gateway.aisdk import _V6_FIELDS
from agentchat.models.openai import OpenAIModel
from agentchat.testing import FakeOpenAIServer, FakeToolCall
from agentchat.tools import tool
from tests.conftest import StartWorker
from tests.gateway.conftest import GatewayServer, running_gateway

SECRET = "s3cr3t-output"


@tool(display="hidden")
async def audit(note: str) -> str:
    """Write an audit note."""
    return f"{SECRET} {note}"


@tool(display="name")
async def lookup(city: str) -> str:
    """Look up a city."""
    return f"{SECRET} {city}"


@pytest.fixture
async def gateway(
    settings: Settings, start_worker: StartWorker, model_server: FakeOpenAIServer
) -> AsyncIterator[GatewayServer]:
    calls = [
        FakeToolCall("audit", json.dumps({"note": "quiet-argument"}), "h1"),
        FakeToolCall("lookup", json.dumps({"city": "named-argument"}), "n1"),
    ]
    model_server.reply = lambda messages: (
        "Done." if any(m["role"] == "tool" for m in messages) else calls
    )
    model = OpenAIModel("gpt-test", base_url=model_server.base_url)
    await start_worker(Agent(name="shy", model=model, tools=[audit, lookup]))
    async with running_gateway(settings) as server:
        yield server


async def ui_chunks(gateway: GatewayServer, route: str) -> list[dict[str, Any]]:
    """One turn's chunks as `route` streams them, up to `[DONE]`."""
    message = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "go"}]}
    body = {"id": f"td-{uuid.uuid4().hex[:10]}", "agent": "shy", "messages": [message]}
    chunks: list[dict[str, Any]] = []
    async with gateway.client() as client, client.stream("POST", route, json=body) as sse:
        assert sse.status_code == 200, await sse.aread()
        async for line in sse.aiter_lines():
            if line == "data: [DONE]":
                return chunks
            if line.startswith("data: "):
                chunks.append(json.loads(line[6:]))
    raise AssertionError("the stream ended without [DONE]")


@pytest.mark.parametrize("route", ["/api/chat", "/api/v5/chat", "/api/v7/chat"])
async def test_a_hidden_tool_is_not_streamed_and_a_named_one_shows_only_its_name(
    gateway: GatewayServer, model_server: FakeOpenAIServer, route: str
) -> None:
    chunks = await ui_chunks(gateway, route)
    text = "".join(c.get("delta", "") for c in chunks if c["type"] == "text-delta")
    assert text == "Done."
    # The model got both results.
    results = [m["content"] for m in model_server.requests[-1]["messages"] if m["role"] == "tool"]
    assert results == [f"{SECRET} quiet-argument", f"{SECRET} named-argument"]
    # Clients: nothing of the hidden call, the name of the other.
    tool_chunks = [c for c in chunks if "toolCallId" in c]
    assert {c["toolCallId"] for c in tool_chunks} == {"n1"}
    assert [c["type"] for c in tool_chunks] == [
        "tool-input-start",
        "tool-input-available",
        "tool-output-available",
    ]
    assert tool_chunks[1]["input"] == {} and tool_chunks[2]["output"] is None
    everything = json.dumps(chunks)
    for word in ("audit", "quiet-argument", "named-argument", SECRET):
        assert word not in everything
    # The marker rides where the AI SDK's strict schemas take `providerMetadata`.
    marker = {"agentchat": {"display": "name"}}
    assert tool_chunks[1]["providerMetadata"] == marker
    if route == "/api/v5/chat":  # v5's tool-input-start has no providerMetadata
        assert "providerMetadata" not in tool_chunks[0]
    else:
        assert tool_chunks[0]["providerMetadata"] == marker
    if route != "/api/v7/chat":  # cut to what the strict v5/v6 schemas take
        for chunk in chunks:
            assert set(chunk) <= _V6_FIELDS.get(chunk["type"], set(chunk)), chunk
