"""How a trigger travels: a user-role carrier message whose one part names the trigger and
holds its input. The carrier gives the trigger a message id (the same correlation, resend and
queueing as a message); the workflow keeps it out of the transcript."""

from __future__ import annotations

from typing import Any

from agentchat.protocol.messages import UIMessage

__all__ = ["TRIGGER_PART", "trigger_message", "trigger_of"]

TRIGGER_PART = "data-trigger"


def trigger_message(message_id: str, name: str, input: Any) -> UIMessage:
    """The carrier of trigger `name` with `input` (None: no input)."""
    return UIMessage(
        id=message_id,
        role="user",
        parts=[{"type": TRIGGER_PART, "data": {"name": name, "input": input}}],
    )


def trigger_of(message: UIMessage) -> tuple[str, Any] | None:
    """The trigger's name and input a carrier holds, or None for any other message."""
    for part in message.parts:
        data = part.get("data")
        if part.get("type") == TRIGGER_PART and isinstance(data, dict):
            name = data.get("name")
            if isinstance(name, str):
                return name, data.get("input")
    return None
