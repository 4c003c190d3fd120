"""`UIMessage`, the AI SDK's message shape, and the builder that folds chunks into one.

The transcript of a chat is a list of `UIMessage`s, so a UI can be restored from it verbatim.
Parts stay plain JSON dicts in the AI SDK shape (`{"type": "text", "text": ...}`,
`{"type": "tool-<name>", ...}`, `{"type": "data-<name>", ...}`): they are data we carry, not
logic, and keeping them verbatim means new part types pass through untouched.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentchat.protocol.chunks import Chunk

__all__ = ["MessageBuilder", "UIMessage", "fold_digest", "message_text", "user_message"]

Role = Literal["system", "user", "assistant"]


class UIMessage(BaseModel):
    """One message of a conversation, as the AI SDK's `UIMessage`."""

    id: str
    role: Role
    parts: list[dict[str, Any]] = Field(default_factory=list)
    metadata: dict[str, Any] | None = None

    def text(self) -> str:
        """The concatenated text parts."""
        return message_text(self)


def message_text(message: UIMessage) -> str:
    """Concatenate the text parts of a message."""
    return "".join(p.get("text", "") for p in message.parts if p.get("type") == "text")


def fold_digest(digest: str, messages: list[UIMessage]) -> str:
    """Extend a transcript digest with more messages (deterministic: usable in workflows)."""
    for message in messages:
        digest = hashlib.sha256(digest.encode() + message.model_dump_json().encode()).hexdigest()
    return digest


def user_message(text: str, message_id: str) -> UIMessage:
    """A user message with one text part."""
    return UIMessage(id=message_id, role="user", parts=[{"type": "text", "text": text}])


class MessageBuilder:
    """Fold a turn's chunks into the assistant `UIMessage`, as the AI SDK client does.

    Parts are tagged with the producer (the activity) that wrote them, so that when a retried
    attempt supersedes a producer, `reset(producer)` removes exactly that producer's parts.
    """

    def __init__(self, message_id: str = "") -> None:
        self.message_id = message_id
        self.metadata: dict[str, Any] | None = None
        self._parts: list[tuple[str, dict[str, Any]]] = []
        self._open: dict[tuple[str, str], dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.error_text: str | None = None

    # -- building -----------------------------------------------------------------------------

    def apply(self, chunk: Chunk, producer: str = "") -> None:
        """Apply one chunk written by `producer`."""
        self.apply_wire(chunk.to_wire(), producer)

    def apply_wire(self, wire: dict[str, Any], producer: str = "") -> None:
        """Apply one chunk given as its wire dict (what the stream stores): no re-encoding."""
        kind = str(wire.get("type", ""))
        part: dict[str, Any] | None
        if kind == "start":
            self.message_id = wire.get("messageId") or self.message_id
            self._merge_metadata(wire.get("messageMetadata"))
        elif kind == "start-step":
            self._add(producer, {"type": "step-start"})
        elif kind in ("text-start", "reasoning-start"):
            part_type = kind.split("-")[0]
            part = {"type": part_type, "text": "", "state": "streaming"}
            self._open[(part_type, wire["id"])] = part
            self._add(producer, part)
        elif kind in ("text-delta", "reasoning-delta"):
            part_type = kind.split("-")[0]
            part = self._open.get((part_type, wire["id"]))
            if part is None:  # delta without a start: tolerate, as a fresh part
                part = {"type": part_type, "text": "", "state": "streaming"}
                self._open[(part_type, wire["id"])] = part
                self._add(producer, part)
            part["text"] += wire["delta"]
        elif kind in ("text-end", "reasoning-end"):
            part_type = kind.split("-")[0]
            part = self._open.pop((part_type, wire["id"]), None)
            if part is not None:
                part["state"] = "done"
        elif kind.startswith("tool-"):
            self._apply_tool(kind, wire, producer)
        elif kind.startswith("data-"):
            if wire.get("transient"):
                return
            part = {"type": kind, "data": wire.get("data")}
            if "id" in wire:
                part["id"] = wire["id"]
                for _, existing in self._parts:
                    if existing.get("type") == kind and existing.get("id") == wire["id"]:
                        existing["data"] = wire.get("data")
                        return
            self._add(producer, part)
        elif kind == "finish":
            self.finish_reason = wire.get("finishReason") or self.finish_reason or "stop"
            self._merge_metadata(wire.get("messageMetadata"))
            self._close_open()
        elif kind == "message-metadata":
            self._merge_metadata(wire.get("messageMetadata"))
        elif kind == "error":
            self.error_text = wire.get("errorText", "error")
            self.finish_reason = "error"
        elif kind == "abort":
            self._close_open()
        elif kind == "reset-step":
            self.reset(producer)

    def add_part(self, part: dict[str, Any], producer: str = "") -> None:
        """Append a finished part directly (used when the workflow assembles a turn)."""
        self._add(producer, part)

    def reset(self, producer: str) -> None:
        """Remove every part written by `producer` (a superseded attempt)."""
        dropped = [p for owner, p in self._parts if owner == producer]
        self._parts = [(owner, p) for owner, p in self._parts if owner != producer]
        for key, part in list(self._open.items()):
            if any(part is d for d in dropped):
                del self._open[key]

    def _add(self, producer: str, part: dict[str, Any]) -> None:
        self._parts.append((producer, part))

    def _close_open(self) -> None:
        for part in self._open.values():
            part["state"] = "done"
        self._open.clear()

    def _merge_metadata(self, metadata: Any) -> None:
        if isinstance(metadata, dict):
            self.metadata = {**(self.metadata or {}), **metadata}

    def _find_tool(self, tool_call_id: str) -> dict[str, Any] | None:
        for _, part in self._parts:
            if part.get("toolCallId") == tool_call_id:
                return part
        return None

    def _apply_tool(self, kind: str, wire: dict[str, Any], producer: str) -> None:
        call_id = wire.get("toolCallId", "")
        part = self._find_tool(call_id)
        if part is None and (kind == "tool-input-start" or "toolName" in wire):
            dynamic = bool(wire.get("dynamic"))
            name = wire.get("toolName", "")
            part = {
                "type": "dynamic-tool" if dynamic else f"tool-{name}",
                "toolCallId": call_id,
                "state": "input-streaming",
                "input": None,
            }
            if dynamic:
                part["toolName"] = name
            self._add(producer, part)
        if part is None:
            return
        if kind == "tool-input-delta":
            part["_inputText"] = part.get("_inputText", "") + wire.get("inputTextDelta", "")
        elif kind == "tool-input-available":
            part["input"] = wire.get("input")
            part["state"] = "input-available"
            part.pop("_inputText", None)
        elif kind == "tool-input-error":
            part["input"] = wire.get("input")
            part["state"] = "output-error"
            part["errorText"] = wire.get("errorText", "")
        elif kind == "tool-output-available":
            part["output"] = wire.get("output")
            part["state"] = "output-available"
            if wire.get("preliminary"):
                part["preliminary"] = True
            else:
                part.pop("preliminary", None)
        elif kind == "tool-output-error":
            part["state"] = "output-error"
            part["errorText"] = wire.get("errorText", "")
        elif kind == "tool-approval-request":
            part["state"] = "approval-requested"
            part["approval"] = {"id": wire.get("approvalId")}
        elif kind == "tool-output-denied":
            part["state"] = "output-denied"

    # -- reading ------------------------------------------------------------------------------

    @property
    def parts(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in p.items() if not k.startswith("_")} for _, p in self._parts]

    def text(self) -> str:
        return "".join(p.get("text", "") for _, p in self._parts if p.get("type") == "text")

    def snapshot(self) -> UIMessage:
        """A deep copy of the message as it stands."""
        return UIMessage(
            id=self.message_id,
            role="assistant",
            parts=copy.deepcopy(self.parts),
            metadata=copy.deepcopy(self.metadata),
        )
