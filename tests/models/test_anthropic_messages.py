"""The transcript -> Anthropic `messages` conversion, and the model's options (no server)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agentchat.errors import ConfigurationError
from agentchat.models import ModelRequest, resolve_model, to_chat_messages
from agentchat.models.anthropic import AnthropicModel, to_anthropic_messages
from agentchat.models.base import ToolDefinition
from agentchat.protocol.messages import UIMessage

CACHE = {"type": "ephemeral"}
SIGNED = {"anthropic": {"signature": "sig-1"}}


def user(text: str, id: str = "u") -> UIMessage:
    return UIMessage(id=id, role="user", parts=[{"type": "text", "text": text}])


def assistant(*parts: dict[str, Any], id: str = "a") -> UIMessage:
    return UIMessage(id=id, role="assistant", parts=list(parts))


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value, "state": "done"}


def tool(call_id: str, state: str = "output-available", **fields: Any) -> dict[str, Any]:
    return {"type": "tool-add", "toolCallId": call_id, "state": state, "input": {"a": 1}, **fields}


def test_a_tool_loop_becomes_tool_use_then_tool_result_blocks() -> None:
    transcript = [
        user("add things"),
        assistant(
            {"type": "step-start"},
            {"type": "reasoning", "text": "adding", "state": "done", "providerMetadata": SIGNED},
            text("Adding."),
            tool("c1", output=2),
            tool("c2", state="output-error", errorText="boom"),
            {"type": "step-start"},
            text("Done: 2."),
        ),
        user("thanks", id="u2"),
    ]
    assert to_anthropic_messages(transcript) == [
        {"role": "user", "content": [{"type": "text", "text": "add things"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "adding", "signature": "sig-1"},
                {"type": "text", "text": "Adding."},
                {"type": "tool_use", "id": "c1", "name": "add", "input": {"a": 1}},
                {"type": "tool_use", "id": "c2", "name": "add", "input": {"a": 1}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "c1", "content": "2"},
                {
                    "type": "tool_result",
                    "tool_use_id": "c2",
                    "content": "Error: boom",
                    "is_error": True,
                    "cache_control": CACHE,  # where the previous step's request ended
                },
            ],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "Done: 2."}]},
        {"role": "user", "content": [{"type": "text", "text": "thanks", "cache_control": CACHE}]},
    ]
    # The OpenAI conversion of the same transcript leaves the reasoning out.
    flat = to_chat_messages(None, transcript)
    assert [m["role"] for m in flat] == ["user", "assistant", "tool", "tool", "assistant", "user"]
    assert "adding" not in str(flat)


def test_reasoning_goes_back_only_as_signed_or_redacted_blocks() -> None:
    redacted = {"anthropic": {"redactedData": "opaque"}}
    transcript = [
        user("q"),
        assistant(
            {"type": "step-start"},
            {"type": "reasoning", "text": "", "state": "done", "providerMetadata": redacted},
            {"type": "reasoning", "text": "unsigned (stopped)", "state": "done"},
            {"type": "reasoning", "text": "x", "providerMetadata": {"openai": {"id": "r"}}},
            text("answer"),
        ),
        user("next", id="u2"),
    ]
    assert to_anthropic_messages(transcript)[1] == {
        "role": "assistant",
        "content": [
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "answer"},
        ],
    }


def test_steers_denials_and_bad_input_keep_the_roles_alternating() -> None:
    transcript = [
        user("review"),
        assistant(
            {"type": "step-start"},
            text("Looking"),
            tool("c1", state="output-denied", approval={"id": "x", "reason": "no"}),
            {"type": "data-steer", "id": "s", "data": {"text": "security only"}},
            {"type": "step-start"},
            {"type": "tool-add", "toolCallId": "c2", "state": "output-error", "input": "{bad"},
            {"type": "step-start"},
            text("  "),  # whitespace only: Anthropic refuses such a block
        ),
        assistant(id="empty"),
    ]
    messages = to_anthropic_messages(transcript)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    first_results = messages[2]["content"]
    assert first_results[0] == {
        "type": "tool_result",
        "tool_use_id": "c1",
        "content": "The user denied this tool call: no",
    }
    assert first_results[1]["text"] == "security only"  # tool results first, then the steer
    assert messages[3]["content"] == [
        {"type": "tool_use", "id": "c2", "name": "add", "input": {}}  # input must be an object
    ]
    assert messages[4]["content"][0]["is_error"] is True
    marked = [b for m in messages for b in m["content"] if "cache_control" in b]
    assert len(marked) == 2


def test_a_final_assistant_message_is_a_prefill_without_trailing_space() -> None:
    messages = to_anthropic_messages([user("hi"), assistant(text("Sure, "))])
    assert messages[-1] == {"role": "assistant", "content": [{"type": "text", "text": "Sure,"}]}


def test_the_request_marks_the_system_prompt_or_else_the_tools() -> None:
    model = AnthropicModel("claude-test", base_url="http://127.0.0.1:9", thinking_budget=2048)
    tools = [ToolDefinition("a", "A.", {"type": "object"}), ToolDefinition("b", "B.", {})]
    body = model.request_body(ModelRequest("Be brief.", [user("hi")], None, tools))
    assert body["system"] == [{"type": "text", "text": "Be brief.", "cache_control": CACHE}]
    assert all("cache_control" not in t for t in body["tools"])
    assert body["tools"][0] == {
        "name": "a",
        "description": "A.",
        "input_schema": {"type": "object"},
    }
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert model.max_tokens == 8192 + 2048
    bare = model.request_body(ModelRequest(None, [user("hi")], None, tools))
    assert "system" not in bare and bare["tools"][-1]["cache_control"] == CACHE


def test_options_and_model_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        resolve_model("anthropic:claude-sonnet-4-5")
    with pytest.raises(ConfigurationError, match="must exceed thinking_budget"):
        AnthropicModel("c", api_key="k", max_tokens=2000, thinking_budget=2000)
    assert AnthropicModel("claude-3-haiku-20240307", api_key="k").max_tokens == 4096
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    model = resolve_model("anthropic:claude-sonnet-4-5")
    assert isinstance(model, AnthropicModel) and model.name == "anthropic:claude-sonnet-4-5"
    assert model.max_tokens == 8192 and model.thinking_budget is None
    with pytest.raises(ConfigurationError, match="'anthropic:<model>'"):
        resolve_model("anthropic:")


# -- how the SDK's stream is read ----------------------------------------------------------------


async def test_server_sent_events_split_anywhere_read_the_same() -> None:
    from agentchat.models.anthropic import _loads, _sse_data

    events = [{"type": "ping"}, {"type": "content_block_delta", "delta": {"text": "é 😀"}}]
    wire = b"".join(
        b"event: e\r\ndata: " + json.dumps(e, ensure_ascii=False).encode() + end
        for e, end in zip(events, (b"\r\n\r\n", b"\n\n"), strict=True)
    )

    async def chunks(size: int) -> AsyncIterator[bytes]:
        for i in range(0, len(wire), size):
            yield wire[i : i + size]

    for size in (1, 2, 3, 7, len(wire)):
        assert [_loads(d) async for d in _sse_data(chunks(size))] == events

    async def unterminated() -> AsyncIterator[bytes]:
        yield b'data: {"a": 1}\rdata: {"b": '
        yield b'"\xff"}'

    assert [_loads(d) async for d in _sse_data(unterminated())] == [{"a": 1}, {"b": "\ufffd"}]
