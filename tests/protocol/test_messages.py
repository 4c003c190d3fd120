"""Pure logic: chunk parsing and folding chunks into UIMessages."""

from __future__ import annotations

import pytest

from agentchat.errors import InvalidMessageError, MessageTooLargeError
from agentchat.protocol.chunks import (
    DataChunk,
    TextDeltaChunk,
    ToolOutputAvailableChunk,
    UnknownChunk,
    parse_chunk,
)
from agentchat.protocol.limits import MAX_MESSAGE_BYTES, check_user_message
from agentchat.protocol.messages import MessageBuilder, UIMessage, user_message


def fold(*wires: dict, producer: str = "p") -> MessageBuilder:  # type: ignore[type-arg]
    builder = MessageBuilder()
    for wire in wires:
        builder.apply(parse_chunk(wire), producer)
    return builder


def test_chunks_round_trip_in_ai_sdk_shape() -> None:
    wire = {
        "type": "tool-output-available",
        "toolCallId": "c1",
        "output": {"ok": True},
        "preliminary": True,
    }
    chunk = parse_chunk(wire)
    assert isinstance(chunk, ToolOutputAvailableChunk) and chunk.tool_call_id == "c1"
    assert chunk.to_wire() == wire
    assert parse_chunk({"type": "text-delta", "id": "t", "delta": "hi"}) == TextDeltaChunk(
        id="t", delta="hi"
    )
    data = parse_chunk({"type": "data-weather", "id": "w", "data": {"c": 21}})
    assert isinstance(data, DataChunk) and data.data == {"c": 21}
    assert isinstance(parse_chunk({"type": "future-thing", "x": 1}), UnknownChunk)


def test_builder_folds_a_turn() -> None:
    builder = fold(
        {"type": "start", "messageId": "m1"},
        {"type": "start-step"},
        {"type": "text-start", "id": "t"},
        {"type": "text-delta", "id": "t", "delta": "Hel"},
        {"type": "text-delta", "id": "t", "delta": "lo"},
        {"type": "text-end", "id": "t"},
        {"type": "data-note", "id": "n", "data": 1},
        {"type": "data-note", "id": "n", "data": 2},
        {"type": "data-ping", "data": 0, "transient": True},
        {"type": "finish-step"},
        {"type": "finish", "finishReason": "stop"},
    )
    message = builder.snapshot()
    assert message.id == "m1" and message.text() == "Hello"
    assert message.parts == [
        {"type": "step-start"},
        {"type": "text", "text": "Hello", "state": "done"},
        {"type": "data-note", "data": 2, "id": "n"},
    ]
    assert builder.finish_reason == "stop"


def test_reset_drops_only_the_superseded_producer() -> None:
    builder = MessageBuilder("m")
    builder.apply(parse_chunk({"type": "start-step"}), "step1")
    builder.apply(parse_chunk({"type": "text-start", "id": "a"}), "step1")
    builder.apply(parse_chunk({"type": "text-delta", "id": "a", "delta": "kept"}), "step1")
    builder.apply(parse_chunk({"type": "text-start", "id": "b"}), "step2")
    builder.apply(parse_chunk({"type": "text-delta", "id": "b", "delta": "half an ans"}), "step2")
    builder.reset("step2")
    builder.apply(parse_chunk({"type": "text-start", "id": "b"}), "step2")
    builder.apply(parse_chunk({"type": "text-delta", "id": "b", "delta": " whole"}), "step2")
    assert builder.text() == "kept whole"


def test_tool_parts_follow_the_ai_sdk_states() -> None:
    builder = fold(
        {"type": "tool-input-start", "toolCallId": "c", "toolName": "lookup"},
        {"type": "tool-input-delta", "toolCallId": "c", "inputTextDelta": '{"q"'},
        {
            "type": "tool-input-available",
            "toolCallId": "c",
            "toolName": "lookup",
            "input": {"q": 1},
        },
        {
            "type": "tool-output-available",
            "toolCallId": "c",
            "output": "partial",
            "preliminary": True,
        },
        {"type": "tool-output-available", "toolCallId": "c", "output": "done"},
    )
    assert builder.parts == [
        {
            "type": "tool-lookup",
            "toolCallId": "c",
            "state": "output-available",
            "input": {"q": 1},
            "output": "done",
        }
    ]


def test_user_messages_are_checked() -> None:
    check_user_message(user_message("hi", "m-1"))
    with pytest.raises(InvalidMessageError, match="empty"):
        check_user_message(user_message("   ", "m-1"))
    with pytest.raises(InvalidMessageError, match="parts is empty"):
        check_user_message(UIMessage(id="m", role="user"))
    with pytest.raises(InvalidMessageError, match="role must be 'user'"):
        check_user_message(
            UIMessage(id="m", role="assistant", parts=[{"type": "text", "text": "x"}])
        )
    with pytest.raises(InvalidMessageError, match=r"message\.id"):
        check_user_message(user_message("hi", "has space"))
    with pytest.raises(InvalidMessageError, match=r"parts\[0\].text"):
        check_user_message(UIMessage(id="m", role="user", parts=[{"type": "text", "text": 5}]))
    with pytest.raises(MessageTooLargeError, match=str(MAX_MESSAGE_BYTES)):
        check_user_message(user_message("x" * MAX_MESSAGE_BYTES, "m-1"))
