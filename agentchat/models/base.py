"""The provider interface: a model streams text deltas and ends with a finish event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from agentchat.messages import UIMessage

__all__ = [
    "Model",
    "ModelEvent",
    "ModelRequest",
    "ModelRequestError",
    "StepFinish",
    "TextDelta",
    "to_chat_messages",
]


@dataclass(frozen=True)
class ModelRequest:
    """What one LLM step sends to the provider."""

    instructions: str | None
    messages: list[UIMessage]
    client_data: dict[str, Any] | None = None


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class StepFinish:
    finish_reason: str = "stop"
    input_tokens: int | None = None
    output_tokens: int | None = None


ModelEvent = TextDelta | StepFinish


class ModelRequestError(Exception):
    """The provider refused the request (a 4xx other than 408/429): retrying will not help."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass
class _Retryable(Exception):
    """The provider failed in a way worth retrying, optionally after `retry_after` seconds."""

    message: str
    retry_after: float | None = field(default=None)


@runtime_checkable
class Model(Protocol):
    """An LLM provider. Implementations stream; they never retry (Temporal does)."""

    name: str

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        """Yield `TextDelta`s, then exactly one `StepFinish`."""
        ...


def to_chat_messages(instructions: str | None, transcript: list[UIMessage]) -> list[dict[str, str]]:
    """Flatten UIMessages into chat-completions messages.

    A steer injected mid-turn is a `data-steer` part inside the assistant message (that is how the
    stream shows it); the model must see it as a user message between the assistant's text
    before and after it.
    """
    out: list[dict[str, str]] = []
    if instructions:
        out.append({"role": "system", "content": instructions})
    for message in transcript:
        buffer: list[str] = []
        for part in message.parts:
            kind = part.get("type")
            if kind == "text":
                buffer.append(str(part.get("text", "")))
            elif kind == "data-steer" and message.role == "assistant":
                if "".join(buffer).strip():
                    out.append({"role": "assistant", "content": "".join(buffer)})
                buffer = []
                data = part.get("data") or {}
                out.append({"role": "user", "content": str(data.get("text", ""))})
        text = "".join(buffer)
        if text.strip() or message.role == "user":
            out.append({"role": message.role, "content": text})
    return out
