"""Test aids: loopback servers speaking OpenAI's and Anthropic's streaming protocols."""

from agentchat.testing.anthropic_server import (
    FakeAnthropicServer,
    FakeRedactedThinking,
    FakeThinking,
)
from agentchat.testing.openai_server import FakeOpenAIServer, FakeToolCall

__all__ = [
    "FakeAnthropicServer",
    "FakeOpenAIServer",
    "FakeRedactedThinking",
    "FakeThinking",
    "FakeToolCall",
]
