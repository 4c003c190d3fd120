"""Typed AI SDK `UIMessageChunk`s, the unit every stream carries.

Field names follow the AI SDK wire format (camelCase on the wire, snake_case in Python). Chunks
are stored verbatim in the stream envelope; `parse_chunk` turns a wire dict into one of these
models and `Chunk.to_wire()` turns it back without adding fields a strict client would reject.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Tag, TypeAdapter
from pydantic.alias_generators import to_camel

__all__ = [
    "AbortChunk",
    "Chunk",
    "DataChunk",
    "ErrorChunk",
    "FinishChunk",
    "FinishReason",
    "FinishStepChunk",
    "MessageMetadataChunk",
    "ReasoningDeltaChunk",
    "ReasoningEndChunk",
    "ReasoningStartChunk",
    "ResetStepChunk",
    "StartChunk",
    "StartStepChunk",
    "TextDeltaChunk",
    "TextEndChunk",
    "TextStartChunk",
    "ToolApprovalRequestChunk",
    "ToolInputAvailableChunk",
    "ToolInputDeltaChunk",
    "ToolInputErrorChunk",
    "ToolInputStartChunk",
    "ToolOutputAvailableChunk",
    "ToolOutputDeniedChunk",
    "ToolOutputErrorChunk",
    "UIChunk",
    "parse_chunk",
    "resource_chunk",
]

FinishReason = Literal["stop", "length", "content-filter", "tool-calls", "error", "other"]


class Chunk(BaseModel):
    """Base of every chunk: camelCase aliases, unknown fields kept so nothing is lost."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True
    )
    type: str

    def to_wire(self) -> dict[str, Any]:
        """The chunk as the AI SDK sends it: camelCase, no unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True)


class StartChunk(Chunk):
    type: Literal["start"] = "start"
    message_id: str | None = None
    message_metadata: Any = None


class StartStepChunk(Chunk):
    type: Literal["start-step"] = "start-step"


class FinishStepChunk(Chunk):
    type: Literal["finish-step"] = "finish-step"


class FinishChunk(Chunk):
    type: Literal["finish"] = "finish"
    finish_reason: FinishReason | None = None
    message_metadata: Any = None


class TextStartChunk(Chunk):
    type: Literal["text-start"] = "text-start"
    id: str


class TextDeltaChunk(Chunk):
    type: Literal["text-delta"] = "text-delta"
    id: str
    delta: str


class TextEndChunk(Chunk):
    type: Literal["text-end"] = "text-end"
    id: str


class ReasoningStartChunk(Chunk):
    type: Literal["reasoning-start"] = "reasoning-start"
    id: str
    provider_metadata: dict[str, Any] | None = None


class ReasoningDeltaChunk(Chunk):
    type: Literal["reasoning-delta"] = "reasoning-delta"
    id: str
    delta: str


class ReasoningEndChunk(Chunk):
    """Ends a reasoning part; `provider_metadata` is what the provider needs back with it
    (Anthropic: `{"anthropic": {"signature": ...}}` or `{"anthropic": {"redactedData": ...}}`)."""

    type: Literal["reasoning-end"] = "reasoning-end"
    id: str
    provider_metadata: dict[str, Any] | None = None


class ToolInputStartChunk(Chunk):
    type: Literal["tool-input-start"] = "tool-input-start"
    tool_call_id: str
    tool_name: str
    dynamic: bool | None = None


class ToolInputDeltaChunk(Chunk):
    type: Literal["tool-input-delta"] = "tool-input-delta"
    tool_call_id: str
    input_text_delta: str


class ToolInputAvailableChunk(Chunk):
    type: Literal["tool-input-available"] = "tool-input-available"
    tool_call_id: str
    tool_name: str
    input: Any = None
    dynamic: bool | None = None


class ToolOutputAvailableChunk(Chunk):
    type: Literal["tool-output-available"] = "tool-output-available"
    tool_call_id: str
    output: Any = None
    preliminary: bool | None = None
    dynamic: bool | None = None


class ToolOutputErrorChunk(Chunk):
    type: Literal["tool-output-error"] = "tool-output-error"
    tool_call_id: str
    error_text: str
    dynamic: bool | None = None


class ToolInputErrorChunk(Chunk):
    type: Literal["tool-input-error"] = "tool-input-error"
    tool_call_id: str
    tool_name: str
    input: Any = None
    error_text: str


class ToolApprovalRequestChunk(Chunk):
    """The turn waits for `AgentChat.approve(approval_id)` or `deny` (AI SDK v6)."""

    type: Literal["tool-approval-request"] = "tool-approval-request"
    approval_id: str
    tool_call_id: str


class ToolOutputDeniedChunk(Chunk):
    type: Literal["tool-output-denied"] = "tool-output-denied"
    tool_call_id: str


class ErrorChunk(Chunk):
    type: Literal["error"] = "error"
    error_text: str


class AbortChunk(Chunk):
    type: Literal["abort"] = "abort"
    reason: str | None = None


class MessageMetadataChunk(Chunk):
    type: Literal["message-metadata"] = "message-metadata"
    message_metadata: Any = None


class ResetStepChunk(Chunk):
    """AI SDK v7's `reset-step`: drop the parts the current step added so far.

    `ChatStream` yields it when a retried activity supersedes output already delivered, so a
    consumer never glues two attempts' answers together.
    """

    type: Literal["reset-step"] = "reset-step"


class DataChunk(Chunk):
    """`data-<name>` chunks: application data, upserted by `id` when one is given."""

    type: str
    data: Any = None
    id: str | None = None
    transient: bool | None = None


class UnknownChunk(Chunk):
    """A chunk type this version does not model; carried through untouched."""


_TYPED: tuple[type[Chunk], ...] = (
    StartChunk,
    StartStepChunk,
    FinishStepChunk,
    FinishChunk,
    TextStartChunk,
    TextDeltaChunk,
    TextEndChunk,
    ReasoningStartChunk,
    ReasoningDeltaChunk,
    ReasoningEndChunk,
    ToolInputStartChunk,
    ToolInputDeltaChunk,
    ToolInputAvailableChunk,
    ToolOutputAvailableChunk,
    ToolOutputErrorChunk,
    ToolInputErrorChunk,
    ToolApprovalRequestChunk,
    ToolOutputDeniedChunk,
    ErrorChunk,
    AbortChunk,
    MessageMetadataChunk,
    ResetStepChunk,
)
_KNOWN_TYPES = {cls.model_fields["type"].default: cls for cls in _TYPED}


def _discriminate(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if not isinstance(kind, str):
        return "unknown"
    if kind in _KNOWN_TYPES:
        return kind
    return "data" if kind.startswith("data-") else "unknown"


UIChunk = Annotated[
    Annotated[StartChunk, Tag("start")]
    | Annotated[StartStepChunk, Tag("start-step")]
    | Annotated[FinishStepChunk, Tag("finish-step")]
    | Annotated[FinishChunk, Tag("finish")]
    | Annotated[TextStartChunk, Tag("text-start")]
    | Annotated[TextDeltaChunk, Tag("text-delta")]
    | Annotated[TextEndChunk, Tag("text-end")]
    | Annotated[ReasoningStartChunk, Tag("reasoning-start")]
    | Annotated[ReasoningDeltaChunk, Tag("reasoning-delta")]
    | Annotated[ReasoningEndChunk, Tag("reasoning-end")]
    | Annotated[ToolInputStartChunk, Tag("tool-input-start")]
    | Annotated[ToolInputDeltaChunk, Tag("tool-input-delta")]
    | Annotated[ToolInputAvailableChunk, Tag("tool-input-available")]
    | Annotated[ToolOutputAvailableChunk, Tag("tool-output-available")]
    | Annotated[ToolOutputErrorChunk, Tag("tool-output-error")]
    | Annotated[ToolInputErrorChunk, Tag("tool-input-error")]
    | Annotated[ToolApprovalRequestChunk, Tag("tool-approval-request")]
    | Annotated[ToolOutputDeniedChunk, Tag("tool-output-denied")]
    | Annotated[ErrorChunk, Tag("error")]
    | Annotated[AbortChunk, Tag("abort")]
    | Annotated[MessageMetadataChunk, Tag("message-metadata")]
    | Annotated[ResetStepChunk, Tag("reset-step")]
    | Annotated[DataChunk, Tag("data")]
    | Annotated[UnknownChunk, Tag("unknown")],
    Discriminator(_discriminate),
]
"""Any chunk: a union discriminated by `type`."""

_ADAPTER: TypeAdapter[Chunk] = TypeAdapter(UIChunk)


def parse_chunk(wire: dict[str, Any]) -> Chunk:
    """Validate a wire dict (camelCase) into its typed chunk model."""
    return _ADAPTER.validate_python(wire)


def resource_chunk(name: str, value: Any) -> dict[str, Any]:
    """A resource's new value, as the stream carries it: a transient data chunk (readers see
    it live with `onData`; it joins no message, the chat keeps the value)."""
    return {
        "type": "data-resource",
        "id": name,
        "data": {"name": name, "value": value},
        "transient": True,
    }
