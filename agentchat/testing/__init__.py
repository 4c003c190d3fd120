"""Test aids: a loopback server speaking OpenAI's streaming chat-completions protocol."""

from agentchat.testing.openai_server import FakeOpenAIServer

__all__ = ["FakeOpenAIServer"]
