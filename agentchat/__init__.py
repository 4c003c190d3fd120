"""agentchat: durable AI chat agents on Temporal and Redis Streams.

Public names are imported lazily, so `import agentchat` stays cheap and pulls in no Redis or
HTTP client (Temporal's workflow sandbox imports the package of every workflow module).
"""

from __future__ import annotations

import sys
from importlib import import_module
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

__all__ = [
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

_LAZY = {
    "Agent": "agentchat.agent",
    "PreloadContext": "agentchat.agent",
    "AgentChat": "agentchat.client",
    "ChatSession": "agentchat.client",
    "Chats": "agentchat.client",
    "chats": "agentchat.client",
    "ChatInfo": "agentchat.protocol.directory",
    "ChatList": "agentchat.protocol.directory",
    "ChatStream": "agentchat.stream",
    "ChatResult": "agentchat.stream",
    "AgentChatError": "agentchat.errors",
    "Settings": "agentchat.settings",
    "UIMessage": "agentchat.protocol.messages",
    "run_worker": "agentchat.worker",
    "ToolContext": "agentchat.tools",
    "tool": "agentchat.tools",
    "client_tool": "agentchat.tools",
    "agent_tool": "agentchat.subagents",
    "mcp_tools": "agentchat.mcp",
}

if TYPE_CHECKING:
    from agentchat.agent import Agent, PreloadContext
    from agentchat.client import AgentChat, Chats, ChatSession, chats
    from agentchat.errors import AgentChatError
    from agentchat.mcp import mcp_tools
    from agentchat.protocol.directory import ChatInfo, ChatList
    from agentchat.protocol.messages import UIMessage
    from agentchat.settings import Settings
    from agentchat.stream import ChatResult, ChatStream
    from agentchat.subagents import agent_tool
    from agentchat.tools import ToolContext, client_tool, tool
    from agentchat.worker import run_worker


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agentchat' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


_MOVED = {
    "agentchat.admission": "agentchat.worker._admission",
    "agentchat.checks": "agentchat.cli._check",
    "agentchat.chunks": "agentchat.protocol.chunks",
    "agentchat.contracts": "agentchat.protocol.contracts",
    "agentchat.http_transport": "agentchat.client._http",
    "agentchat.limits": "agentchat.protocol.limits",
    "agentchat.local": "agentchat.testing.local",
    "agentchat.messages": "agentchat.protocol.messages",
    "agentchat.multiplex": "agentchat.stream._multiplex",
    "agentchat.redaction": "agentchat.connections._redaction",
    "agentchat.redis_target": "agentchat.connections._redis",
    "agentchat.stream_store": "agentchat.stream._store",
    "agentchat.temporal_target": "agentchat.connections._temporal",
}
"""Modules of the flat 0.1 layout and where they live now (see docs/architecture.md).

`import agentchat.messages` and `from agentchat.stream_store import chat_keys` keep working:
the old name is the new module itself, not a copy, so patching either patches both."""


class _MovedModules(MetaPathFinder, Loader):
    """Answers an old module path with the module that replaced it."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if fullname not in _MOVED:
            return None
        return ModuleSpec(fullname, self)

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        return import_module(_MOVED[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        # The module is already executed under its new name; keep it registered under that one.
        pass


sys.meta_path.append(_MovedModules())
