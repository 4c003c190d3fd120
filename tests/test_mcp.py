"""MCP tools against real MCP servers (the official package's `MCPServer`) on loopback: over
streamable HTTP in a subprocess, and over stdio, called by a real worker's tool activities."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentchat import Agent, AgentChat, Settings, mcp_tools, run_worker, tool
from agentchat.errors import ConfigurationError
from agentchat.models.openai import OpenAIModel
from agentchat.protocol.chunks import (
    ToolApprovalRequestChunk,
    ToolInputAvailableChunk,
    ToolOutputAvailableChunk,
)
from agentchat.testing import FakeOpenAIServer, FakeToolCall
from agentchat.testing.local import free_port
from tests.conftest import StartWorker

SERVER = Path(__file__).parent / "mcp_servers" / "tools_server.py"
NewChat = Callable[..., AgentChat]


class HTTPServer:
    """`tools_server.py` serving streamable HTTP on a port of its own, in a subprocess."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, str(SERVER), "http", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def start(self) -> HTTPServer:
        self.process = self.spawn()
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                assert self.process.poll() is None, "the MCP server exited"
                await asyncio.sleep(0.05)
        raise TimeoutError(f"the MCP server on :{self.port} did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
async def mcp_server() -> AsyncIterator[HTTPServer]:
    server = await HTTPServer().start()
    yield server
    server.kill()


def scripted(server: FakeOpenAIServer, *replies: Any) -> None:
    """The model answers the n-th request of the test with replies[n] (the last one after)."""
    left = list(replies)
    server.reply = lambda messages: left.pop(0) if len(left) > 1 else left[0]


def model(server: FakeOpenAIServer) -> OpenAIModel:
    return OpenAIModel("gpt-test", base_url=server.base_url)


def tool_messages(server: FakeOpenAIServer, request: int) -> list[str]:
    """What the model read as tool results in its `request`-th request."""
    messages = server.requests[request]["messages"]
    return [m["content"] for m in messages if m["role"] == "tool"]


async def started(agent: Agent, start_worker: StartWorker) -> Agent:
    await agent.load_tools()  # as run_worker does before it serves
    await start_worker(agent)
    return agent


async def test_http_tools_are_called_as_activities(
    mcp_server: HTTPServer,
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
) -> None:
    scripted(
        model_server,
        [
            FakeToolCall("add", '{"a": 2, "b": 3}', "c1"),
            FakeToolCall("weather", '{"city": "Oslo"}', "c2"),
        ],
        "5, and 21 degrees in Oslo.",
    )
    agent = Agent(
        name="mcp",
        model=model(model_server),
        tools=[mcp_tools(mcp_server.url, allowed=["add", "weather"])],
    )
    await started(agent, start_worker)
    assert [t.name for t in agent.tools] == ["add", "weather"]
    chat = new_chat(agent="mcp")
    result = await (await chat.send_message("add 2 and 3, and the weather in Oslo")).result()
    assert result.text == "5, and 21 degrees in Oslo."
    assert [r["output"] for r in result.tool_results] == [
        {"result": 5},
        {"city": "Oslo", "temp": 21},
    ]
    first = model_server.requests[0]
    assert [t["function"]["name"] for t in first["tools"]] == ["add", "weather"]
    add = first["tools"][0]["function"]
    assert add["description"] == "Add two integers."
    assert add["parameters"]["required"] == ["a", "b"]
    assert [json.loads(m) for m in tool_messages(model_server, 1)] == [
        {"result": 5},
        {"city": "Oslo", "temp": 21},
    ]
    history = await chat.history()
    parts = [p for p in history[1].parts if p["type"].startswith("tool-")]
    assert [(p["type"], p["state"]) for p in parts] == [
        ("tool-add", "output-available"),
        ("tool-weather", "output-available"),
    ]


async def test_listing_fails_clearly(mcp_server: HTTPServer) -> None:
    with pytest.raises(ConfigurationError, match=r"has no tool named 'nope'.*it has: add, boom"):
        await Agent(
            name="a", tools=[mcp_tools(mcp_server.url, allowed=["add", "nope"])]
        ).load_tools()
    with pytest.raises(ConfigurationError, match=r"no tool named 'dele' \(in approval\)"):
        await Agent(name="a", tools=[mcp_tools(mcp_server.url, approval=["dele"])]).load_tools()

    down = f"http://127.0.0.1:{free_port()}/mcp"
    unreachable = Agent(name="down", tools=[mcp_tools(down)])
    with pytest.raises(ConfigurationError, match=f"agent 'down': cannot reach MCP server {down}"):
        await unreachable.load_tools()
    with pytest.raises(ConfigurationError, match="not listed yet"):
        unreachable.check_tools_loaded()  # what create_worker checks

    @tool
    def add(a: int) -> int:
        """My own add."""
        return a

    clash = Agent(name="clash", tools=[add, mcp_tools(mcp_server.url)])
    with pytest.raises(ConfigurationError, match=r"named like the agent's others: \['add'\]"):
        await clash.load_tools()
    prefixed = Agent(name="ok", tools=[add, mcp_tools(mcp_server.url, prefix="calc_")])
    await prefixed.load_tools()
    assert [t.name for t in prefixed.tools][:3] == ["add", "calc_add", "calc_echo"]
    prefixed.check_tools_loaded()
    for agent in (clash, prefixed):
        await agent.aclose()

    with pytest.raises(ConfigurationError, match="either a url or a command"):
        mcp_tools()
    with pytest.raises(ConfigurationError, match="not an http"):
        mcp_tools("ftp://x")


async def test_errors_go_back_to_the_model(
    mcp_server: HTTPServer,
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
) -> None:
    scripted(
        model_server,
        [FakeToolCall("add", '{"a": "two"}', "bad")],
        [FakeToolCall("boom", '{"reason": "on purpose"}', "boom")],
        [FakeToolCall("nap", '{"seconds": 30}', "slow")],
        [FakeToolCall("add", '{"a": 2, "b": 2}', "good")],
        "Four.",
    )
    tools = mcp_tools(mcp_server.url, tool_timeouts={"nap": 1})
    await started(Agent(name="mcp", model=model(model_server), tools=[tools]), start_worker)
    stream = await new_chat(agent="mcp").send_message("add")
    types = [c.type async for c in stream]
    assert (await stream.result()).text == "Four."
    assert types.count("tool-output-error") == 3
    assert tool_messages(model_server, 4) == [
        "Error: invalid arguments for add: (arguments): 'b' is a required property;"
        " a: 'two' is not of type 'integer'",
        "Error: MCPToolError: Error executing tool boom: kaboom: on purpose",
        "Error: MCPToolError: nap timed out after 1s",
        '{"result":4}',
    ]


async def test_progress_and_images(
    mcp_server: HTTPServer,
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
) -> None:
    scripted(
        model_server,
        [FakeToolCall("count", '{"n": 3}', "c1"), FakeToolCall("picture", "{}", "p1")],
        "Counted, and a picture.",
    )
    tools = mcp_tools(mcp_server.url, allowed=["count", "picture"])
    await started(Agent(name="mcp", model=model(model_server), tools=[tools]), start_worker)
    stream = await new_chat(agent="mcp").send_message("count and draw")
    progress = [
        c.output
        async for c in stream
        if isinstance(c, ToolOutputAvailableChunk) and c.preliminary and c.tool_call_id == "c1"
    ]
    result = await stream.result()
    # Progress notifications are preliminary outputs (the writer may coalesce some of them).
    every = [{"progress": float(i), "total": 3.0, "message": f"at {i}"} for i in (1, 2, 3)]
    assert progress and all(p in every for p in progress)
    assert progress == sorted(progress, key=every.index)
    assert [r["output"] for r in result.tool_results] == [
        {"result": "counted to 3"},
        "[image: image/png, 100 bytes]",
    ]


async def test_a_server_that_dies_mid_call(
    mcp_server: HTTPServer,
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
) -> None:
    scripted(
        model_server,
        [FakeToolCall("nap", '{"seconds": 60}', "n1")],
        "The server went away.",
        [FakeToolCall("echo", '{"text": "back"}', "e1")],
        "It is back.",
    )
    tools = mcp_tools(mcp_server.url, timeout=120)
    await started(Agent(name="mcp", model=model(model_server), tools=[tools]), start_worker)
    chat = new_chat(agent="mcp")
    stream = await chat.send_message("nap")
    async for chunk in stream:
        if isinstance(chunk, ToolInputAvailableChunk):
            await asyncio.sleep(1.5)  # the call has reached the server, which naps
            mcp_server.kill()
    result = await stream.result()
    assert result.text == "The server went away."
    error = result.tool_results[0]["errorText"]
    assert error.startswith(f"MCPToolError: the connection to MCP server {mcp_server.url} broke")

    await mcp_server.start()  # the same port: the next call reconnects
    result = await (await chat.send_message("echo")).result()
    assert result.text == "It is back."
    assert result.tool_results[0]["output"] == {"result": "echo: back"}


async def test_approval_before_the_call(
    mcp_server: HTTPServer,
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
) -> None:
    scripted(
        model_server,
        [FakeToolCall("delete_file", '{"path": "notes.txt"}', "d1")],
        "Deleted.",
    )
    tools = mcp_tools(
        mcp_server.url,
        allowed=["delete_file", "echo"],
        approval={"delete_file"},
        headers={"X-Request-Source": "agentchat-tests"},  # through a client of our own
    )
    agent = await started(Agent(name="mcp", model=model(model_server), tools=[tools]), start_worker)
    assert [(t.name, t.requires_approval) for t in agent.tools] == [
        ("echo", False),
        ("delete_file", True),
    ]
    chat = new_chat(agent="mcp")
    stream = await chat.send_message("delete notes.txt")
    approvals = 0
    async for chunk in stream:
        if isinstance(chunk, ToolApprovalRequestChunk):
            approvals += 1
            assert await chat.approve(chunk.approval_id) == 1
    result = await stream.result()
    assert approvals == 1 and result.text == "Deleted."
    assert result.tool_results[0]["output"] == {"result": "deleted notes.txt"}


@pytest.fixture
def stdio_pids() -> Iterator[list[int]]:
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def test_stdio_server_is_started_again_when_it_died(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    stdio_pids: list[int],
) -> None:
    call = [FakeToolCall("whoami", "{}")]
    scripted(model_server, call, "Done.", call, "Done.")
    tools = mcp_tools(command=[sys.executable, str(SERVER), "stdio"], allowed=["whoami"])
    agent = await started(
        Agent(name="local", model=model(model_server), tools=[tools]), start_worker
    )
    chat = new_chat(agent="local")
    for turn in range(2):
        result = await (await chat.send_message(f"who are you? {turn}")).result()
        assert result.text == "Done."
        stdio_pids.append(result.tool_results[0]["output"]["result"])
        os.kill(stdio_pids[-1], signal.SIGKILL)  # the next call starts it again
    assert stdio_pids[0] != stdio_pids[1]
    await agent.aclose()


async def test_a_worker_does_not_start_without_its_mcp_server(settings: Settings) -> None:
    down = f"http://127.0.0.1:{free_port()}/mcp"
    agent = Agent(name="needs-mcp", tools=[mcp_tools(down, connect_timeout=5)])
    with pytest.raises(ConfigurationError, match=f"'needs-mcp': cannot reach MCP server {down}"):
        await run_worker([agent], settings)
