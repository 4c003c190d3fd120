"""The `AgentChat` client: send, steer, stop, read and resume a chat, directly or over HTTP."""

from agentchat.client._chat import AgentChat, ChatSession

__all__ = ["AgentChat", "ChatSession"]
