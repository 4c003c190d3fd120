"""The provider interface: a model streams text, reasoning and tool calls, then a finish event."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import orjson

from agentchat.protocol.files import file_ref, is_file_part
from agentchat.protocol.messages import UIMessage

__all__ = [
    "Model",
    "ModelEvent",
    "ModelRequest",
    "ModelRequestError",
    "ReasoningDelta",
    "ReasoningEnd",
    "StepFinish",
    "TextDelta",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallStart",
    "ToolDefinition",
    "to_chat_messages",
]


@dataclass(frozen=True)
class ToolDefinition:
    """A tool as the model sees it."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ModelRequest:
    """What one LLM step sends to the provider."""

    instructions: str | None
    messages: list[UIMessage]
    client_data: dict[str, Any] | None = None
    tools: list[ToolDefinition] = field(default_factory=list)
    files: Mapping[str, bytes] = field(default_factory=dict)
    """The bytes of the messages' files, by blob ref: loaded by the LLM step for a model that
    declares `file_types`, only inside the activity (never in workflow payloads)."""


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of the model's visible reasoning (a thinking block's text)."""

    text: str


@dataclass(frozen=True)
class ReasoningEnd:
    """The reasoning block under way ended (one may end without any delta: a redacted block).

    `provider_metadata` is what the provider needs to be sent back with it on the next step,
    keyed by provider as the AI SDK keys a part's `providerMetadata`, e.g.
    `{"anthropic": {"signature": "..."}}` or `{"anthropic": {"redactedData": "..."}}`.
    """

    provider_metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class ToolCallStart:
    """The model began a tool call; its arguments follow as `ToolCallDelta`s."""

    id: str
    name: str


@dataclass(frozen=True)
class ToolCallDelta:
    id: str
    text: str


@dataclass(frozen=True)
class ToolCall:
    """A complete tool call: `arguments` is the model's JSON text, not yet validated."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class StepFinish:
    """How the step ended, and its usage as the provider reported it (None: not reported).

    `input_tokens` counts the whole prompt, cached tokens included (as OpenAI's
    `prompt_tokens`; for Anthropic the sum of its uncached, cache-read and cache-write counts);
    `cached_tokens` is the part read from the provider's prompt cache. `output_tokens` counts
    everything generated, reasoning included; `reasoning_tokens` is that part.
    """

    finish_reason: str = "stop"
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None


ModelEvent = (
    TextDelta
    | ReasoningDelta
    | ReasoningEnd
    | ToolCallStart
    | ToolCallDelta
    | ToolCall
    | StepFinish
)


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
    """An LLM provider. Implementations stream; they never retry (Temporal does).

    One may also define `async def aclose()`, which `Agent.aclose()` (and so `run_worker`,
    when it stops) calls to release its connections, and set `prefetchable = True` when a
    stream may be begun in one task and read on in another (no timeout or cancel scope held
    across a `yield`): a worker then sends its requests while Temporal records each step
    (`agentchat.activities.prefetch`).

    A model that takes files sets `file_types`, the media types it takes (`image/*`, exact
    types): the LLM step then refuses other files before calling it and puts the bytes of the
    rest in `ModelRequest.files`. Without it, file parts reach the model as references only
    (`to_chat_messages` names them in the text).
    """

    name: str

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        """Yield `TextDelta`s, reasoning and tool call events, then exactly one `StepFinish`."""
        ...


def _is_tool_part(part: dict[str, Any]) -> bool:
    kind = str(part.get("type", ""))
    return kind == "dynamic-tool" or kind.startswith("tool-")


def _tool_result_text(part: dict[str, Any]) -> str:
    state = part.get("state")
    if state == "output-available":
        output = part.get("output")
        return output if isinstance(output, str) else orjson.dumps(output).decode()
    if state == "output-denied":
        reason = (part.get("approval") or {}).get("reason")
        return "The user denied this tool call" + (f": {reason}" if reason else ".")
    return f"Error: {part.get('errorText') or 'the tool did not return a result'}"


def to_chat_messages(
    instructions: str | None,
    transcript: list[UIMessage],
    files: Mapping[str, bytes] | None = None,
) -> list[dict[str, Any]]:
    """Flatten UIMessages into chat-completions messages.

    A user message with files gets content parts when `files` (their bytes by ref) is given:
    images as `image_url` parts (a base64 data URL), PDFs as `file` parts (`file_data`), text
    files as text; a file without bytes there, or of another type, is named in a text part.
    Without `files`, the files are named in the message's text.

    An assistant message holds a whole turn: text, tool calls with their results, and steers.
    A steer injected mid-turn is a `data-steer` part (that is how the stream shows it); the
    model must see it as a user message between the assistant's output before and after it.
    Tool parts become an assistant message with `tool_calls` followed by `tool` messages.
    """
    out: list[dict[str, Any]] = []
    if instructions:
        out.append({"role": "system", "content": instructions})
    for message in transcript:
        if message.role != "assistant":
            content = "".join(
                str(p.get("text", "")) for p in message.parts if p.get("type") == "text"
            )
            if any(is_file_part(p) for p in message.parts):
                out.append({"role": message.role, "content": _with_files(content, message, files)})
                continue
            out.append({"role": message.role, "content": content})
            continue
        text: list[str] = []
        calls: list[dict[str, Any]] = []
        for part in message.parts:
            kind = part.get("type")
            if kind == "text":
                if calls:
                    _flush_assistant(out, text, calls)
                text.append(str(part.get("text", "")))
            elif _is_tool_part(part):
                calls.append(part)
            elif kind == "step-start" and calls:
                _flush_assistant(out, text, calls)
            elif kind == "data-steer":
                _flush_assistant(out, text, calls)
                data = part.get("data") or {}
                out.append({"role": "user", "content": str(data.get("text", ""))})
        _flush_assistant(out, text, calls)
    return out


def _flush_assistant(
    out: list[dict[str, Any]], text: list[str], calls: list[dict[str, Any]]
) -> None:
    joined = "".join(text)
    if calls:
        out.append(
            {
                "role": "assistant",
                "content": joined or None,
                "tool_calls": [
                    {
                        "id": p["toolCallId"],
                        "type": "function",
                        "function": {
                            "name": p.get("toolName") or str(p["type"])[5:],
                            "arguments": orjson.dumps(p.get("input") or {}).decode(),
                        },
                    }
                    for p in calls
                ],
            }
        )
        for p in calls:
            out.append(
                {"role": "tool", "tool_call_id": p["toolCallId"], "content": _tool_result_text(p)}
            )
    elif joined.strip():
        out.append({"role": "assistant", "content": joined})
    text.clear()
    calls.clear()


IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
"""Images both providers take inline."""


def file_note(part: dict[str, Any], why: str = "not available to the model") -> str:
    """How a file the model does not receive is named in the text it gets instead."""
    name = part.get("filename") or "unnamed"
    return f"[file {name!r} ({part.get('mediaType', 'unknown type')}): {why}]"


def file_bytes(part: dict[str, Any], files: Mapping[str, bytes] | None) -> bytes | None:
    """The bytes of a file part, when the step loaded them."""
    ref = file_ref(part)
    return files.get(ref) if files is not None and ref is not None else None


def file_text(part: dict[str, Any], data: bytes) -> str:
    """A text file as the model reads it."""
    name = part.get("filename") or "unnamed"
    body = data.decode("utf-8", errors="replace")
    return f"<file name={name!r} type={part.get('mediaType')!r}>\n{body}\n</file>"


def _with_files(
    text: str, message: UIMessage, files: Mapping[str, bytes] | None
) -> str | list[dict[str, Any]]:
    parts = [p for p in message.parts if is_file_part(p)]
    if files is None:
        notes = " ".join(file_note(p, "attached") for p in parts)
        return f"{text}\n{notes}" if text else notes
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text.strip() else []
    for part in parts:
        content.append(_openai_file(part, file_bytes(part, files)))
    return content


def _openai_file(part: dict[str, Any], data: bytes | None) -> dict[str, Any]:
    media_type = str(part.get("mediaType", ""))
    if data is None:
        return {"type": "text", "text": file_note(part)}
    if media_type in IMAGE_TYPES:
        encoded = base64.b64encode(data).decode()
        return {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{encoded}"}}
    if media_type == "application/pdf":
        encoded = base64.b64encode(data).decode()
        return {
            "type": "file",
            "file": {
                "filename": part.get("filename") or "document.pdf",
                "file_data": f"data:application/pdf;base64,{encoded}",
            },
        }
    if media_type.startswith("text/"):
        return {"type": "text", "text": file_text(part, data)}
    return {"type": "text", "text": file_note(part, "a type this model does not take")}
