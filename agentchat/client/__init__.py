"""The `AgentChat` client: send, steer, stop, read and resume a chat, directly or over HTTP;
and `Chats`, the directory of chats."""

from agentchat.client._chat import AgentChat, ChatSession
from agentchat.client._directory import Chats, chats

__all__ = ["AgentChat", "ChatSession", "Chats", "chats"]
