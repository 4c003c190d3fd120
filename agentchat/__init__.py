"""agentchat: durable AI chat agents on Temporal and Redis Streams.

Public names are imported lazily, so `import agentchat` stays cheap and pulls in no Redis or
HTTP client (Temporal's workflow sandbox imports the package of every workflow module).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentChat",
    "AgentChatError",
    "ChatResult",
    "ChatSession",
    "ChatStream",
    "PreloadContext",
    "Settings",
    "UIMessage",
    "__version__",
    "run_worker",
]

_LAZY = {
    "Agent": "agentchat.agent",
    "PreloadContext": "agentchat.agent",
    "AgentChat": "agentchat.client",
    "ChatSession": "agentchat.client",
    "ChatStream": "agentchat.stream",
    "ChatResult": "agentchat.stream",
    "AgentChatError": "agentchat.errors",
    "Settings": "agentchat.settings",
    "UIMessage": "agentchat.messages",
    "run_worker": "agentchat.worker",
}

if TYPE_CHECKING:
    from agentchat.agent import Agent, PreloadContext
    from agentchat.client import AgentChat, ChatSession
    from agentchat.errors import AgentChatError
    from agentchat.messages import UIMessage
    from agentchat.settings import Settings
    from agentchat.stream import ChatResult, ChatStream
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
