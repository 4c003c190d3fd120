"""Before any model call, a tool call left without a result (its step crashed or was stopped,
its worker died) is closed with an explicit error result: no provider rejects the prompt."""

from __future__ import annotations

from agentchat.models.anthropic import to_anthropic_messages
from agentchat.models.base import to_chat_messages
from agentchat.protocol.messages import UIMessage, user_message

DANGLING = UIMessage(
    id="a1",
    role="assistant",
    parts=[
        {"type": "step-start"},
        {"type": "text", "text": "Let me look."},
        {
            "type": "tool-lookup",
            "toolCallId": "call_1",
            "state": "input-available",
            "input": {"query": "tides"},
        },
    ],
    metadata={"status": "stopped"},
)


def test_openai_gets_an_error_result_for_a_call_without_one() -> None:
    messages = to_chat_messages(None, [user_message("look it up", "u1"), DANGLING])
    call = messages[1]
    assert call["role"] == "assistant" and call["tool_calls"][0]["id"] == "call_1"
    assert messages[2] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "Error: the tool did not return a result",
    }


def test_anthropic_gets_an_error_result_for_a_call_without_one() -> None:
    messages = to_anthropic_messages([user_message("look it up", "u1"), DANGLING])
    tool_use = [b for b in messages[1]["content"] if b["type"] == "tool_use"]
    assert tool_use[0]["id"] == "call_1"
    results = [b for b in messages[2]["content"] if b["type"] == "tool_result"]
    assert results[0]["tool_use_id"] == "call_1" and results[0]["is_error"] is True
    assert "did not return a result" in str(results[0]["content"])
