"""Test aids: a loopback server speaking OpenAI's streaming chat-completions protocol."""

from agentchat.testing.openai_server import FakeOpenAIServer, FakeToolCall

__all__ = ["FakeOpenAIServer", "FakeToolCall"]
