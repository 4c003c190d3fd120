"""The public surface is small and frozen; importing it is cheap."""

from __future__ import annotations

import json
import subprocess
import sys

import agentchat


def test_public_names_are_frozen() -> None:
    assert agentchat.__all__ == [
        "Agent",
        "AgentChat",
        "AgentChatError",
        "ChatInfo",
        "ChatList",
        "ChatResult",
        "ChatSession",
        "ChatStream",
        "Chats",
        "PreloadContext",
        "Settings",
        "ToolContext",
        "UIMessage",
        "__version__",
        "agent_tool",
        "chats",
        "client_tool",
        "mcp_tools",
        "run_worker",
        "tool",
    ]
    for name in agentchat.__all__:
        assert getattr(agentchat, name) is not None


def test_import_pulls_in_no_io_libraries() -> None:
    code = (
        "import sys, agentchat; "
        "print(sorted(m for m in ('redis', 'httpx', 'openai', 'temporalio', 'sqlalchemy')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_workflow_package_imports_no_io_libraries() -> None:
    code = (
        "import sys, agentchat.workflows; "
        "print(sorted(m for m in ('redis', 'httpx', 'openai', 'orjson') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_designed_imports_work() -> None:
    from agentchat import Agent, AgentChat, ToolContext, agent_tool, client_tool, tool
    from agentchat.subagents import agent_tool as agent_tool_there
    from agentchat.tools import ToolContext as ToolContextThere
    from agentchat.tools import client_tool as client_tool_there
    from agentchat.tools import tool as tool_there

    assert (tool, client_tool, agent_tool, ToolContext) == (
        tool_there,
        client_tool_there,
        agent_tool_there,
        ToolContextThere,
    )
    assert Agent.__name__ == "Agent" and AgentChat.__name__ == "AgentChat"


# Every module path the README, docs/ and the 0.1 layout name, with a name from each.
DOCUMENTED_PATHS = {
    "agentchat.agent": "Agent",
    "agentchat.client": "AgentChat",
    "agentchat.connections": "get_redis",
    "agentchat.demo": "demo_model",
    "agentchat.errors": "TemporalUnavailableError",
    "agentchat.gateway": "create_app",
    "agentchat.models": "to_chat_messages",
    "agentchat.models.openai": "OpenAIModel",
    "agentchat.settings": "Settings",
    "agentchat.stream": "ChatStream",
    "agentchat.subagents": "agent_tool",
    "agentchat.testing": "FakeOpenAIServer",
    "agentchat.testing.openai_server": "FakeToolCall",
    "agentchat.tools": "ToolContext",
    "agentchat.worker": "run_worker",
    # Moved in 0.2; the old paths resolve to the new modules.
    "agentchat.admission": "LoopLagSlots",
    "agentchat.chunks": "TextDeltaChunk",
    "agentchat.contracts": "SendInput",
    "agentchat.http_transport": "HttpBackend",
    "agentchat.limits": "check_user_message",
    "agentchat.local": "LocalStack",
    "agentchat.messages": "UIMessage",
    "agentchat.multiplex": "AppendBatcher",
    "agentchat.redaction": "scrub",
    "agentchat.redis_target": "redis_client",
    "agentchat.stream_store": "chat_keys",
    "agentchat.temporal_target": "temporal_target",
}


def test_every_documented_import_path_works() -> None:
    code = (
        "import importlib, json, sys; paths = json.loads(sys.argv[1]); "
        "[getattr(importlib.import_module(m), n) for m, n in paths.items()]; "
        "import agentchat.messages as old, agentchat.protocol.messages as new; "
        "assert old is new; print('ok')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(DOCUMENTED_PATHS)],
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "ok", out.stderr


def test_the_version_is_defined_once() -> None:
    from importlib.metadata import version

    assert version("agentchat") == agentchat.__version__
