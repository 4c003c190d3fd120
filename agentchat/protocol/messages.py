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

__all__ = [
    "MessageBuilder",
    "UIMessage",
    "fold_digest",
    "fold_tool_chunk",
    "is_main_text",
    "message_text",
    "new_tool_part",
    "user_message",
]

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


def is_main_text(part: dict[str, Any]) -> bool:
    """A text part of the answer itself, not of a named thread's answer streamed within it
    (`providerMetadata.agentchat.thread`, see `agentchat.triggers.StartThread`)."""
    if part.get("type") != "text":
        return False
    metadata = part.get("providerMetadata")
    return not (isinstance(metadata, dict) and (metadata.get("agentchat") or {}).get("thread"))


def fold_digest(digest: str, messages: list[UIMessage]) -> str:
    """Extend a transcript digest with more messages (deterministic: usable in workflows)."""
    for message in messages:
        digest = hashlib.sha256(digest.encode() + message.model_dump_json().encode()).hexdigest()
    return digest


def user_message(text: str, message_id: str) -> UIMessage:
    """A user message with one text part."""
    return UIMessage(id=message_id, role="user", parts=[{"type": "text", "text": text}])


def new_tool_part(wire: dict[str, Any]) -> dict[str, Any]:
    """The part a tool call's first chunk opens (`input-streaming`, no input yet)."""
    dynamic = bool(wire.get("dynamic"))
    name = wire.get("toolName", "")
    part: dict[str, Any] = {
        "type": "dynamic-tool" if dynamic else f"tool-{name}",
        "toolCallId": wire.get("toolCallId", ""),
        "state": "input-streaming",
        "input": None,
    }
    if dynamic:
        part["toolName"] = name
    return part


def fold_tool_chunk(part: dict[str, Any], wire: dict[str, Any]) -> None:
    """Apply one `tool-*` chunk to its tool part: the AI SDK's tool-part state machine.

    input-streaming -> input-available | output-error (bad input) -> approval-requested ->
    output-available (`preliminary` while a tool reports progress) | output-error |
    output-denied. The one Python copy: the stream's readers, the LLM step and the workflow's
    tool calls all fold through here, and `static/js/fold.js` is checked against the same
    corpus (tests/protocol/fold_corpus.json).
    """
    kind = wire.get("type")
    # tool-input-delta changes no part: the input is whole at tool-input-available.
    if kind == "tool-input-available":
        part["input"] = wire.get("input")
        part["state"] = "input-available"
        _keep_call_metadata(part, wire)
    elif kind == "tool-input-error":
        part["input"] = wire.get("input")
        part["state"] = "output-error"
        part["errorText"] = wire.get("errorText", "")
        _keep_call_metadata(part, wire)
    elif kind == "tool-input-start":
        _keep_call_metadata(part, wire)
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


def _keep_call_metadata(part: dict[str, Any], wire: dict[str, Any]) -> None:
    """A call's opening chunk's `providerMetadata` goes on its part as `callProviderMetadata`,
    as the AI SDK keeps it: agentchat's display marker (`agentchat.protocol.tool_display`)."""
    metadata = wire.get("providerMetadata")
    if metadata is not None:
        part["callProviderMetadata"] = metadata


def _keep_provider_metadata(part: dict[str, Any], wire: dict[str, Any]) -> None:
    """A start or end chunk's `providerMetadata` goes on its part, as the AI SDK keeps it.

    Anthropic's thinking comes back with its signature this way (`reasoning-end` carries
    `{"anthropic": {"signature": ...}}`), and the next step must send it back verbatim.
    Deltas carry none here (the LLM step never writes it on one: the hot path stays lean).
    """
    metadata = wire.get("providerMetadata")
    if metadata is not None:
        part["providerMetadata"] = metadata


class MessageBuilder:
    """Fold a turn's chunks into the assistant `UIMessage`, as the AI SDK client does.

    Parts are tagged with the producer (the activity) that wrote them, so that when a retried
    attempt supersedes a producer, `reset(producer)` removes exactly that producer's parts.
    An open text part keeps its deltas in a list, joined when read: `+=` on a long answer is
    quadratic, and the LLM step folds every token it writes.
    """

    def __init__(self, message_id: str = "") -> None:
        self.message_id = message_id
        self.metadata: dict[str, Any] | None = None
        self._parts: list[tuple[str, dict[str, Any]]] = []
        self._open: dict[tuple[str, str], dict[str, Any]] = {}
        self._pieces: dict[int, list[str]] = {}
        """id() of an open text or reasoning part -> its deltas not yet joined into `text`."""
        self.finish_reason: str | None = None
        self.error_text: str | None = None

    # -- building -----------------------------------------------------------------------------

    def apply(self, chunk: Chunk, producer: str = "") -> None:
        """Apply one chunk written by `producer`."""
        self.apply_wire(chunk.to_wire(), producer)

    def apply_wire(self, wire: dict[str, Any], producer: str = "") -> None:
        """Apply one chunk given as its wire dict (what the stream stores): no re-encoding."""
        kind = str(wire.get("type", ""))
        if kind in ("text-delta", "reasoning-delta"):  # first: one per token
            part_type = kind[:-6]
            part = self._open.get((part_type, wire["id"]))
            if part is None:  # delta without a start: tolerate, as a fresh part
                part = self._open_text(part_type, wire["id"], producer)
            self._pieces[id(part)].append(wire["delta"])
        elif kind in ("text-start", "reasoning-start"):
            part = self._open_text(kind[:-6], wire["id"], producer)
            _keep_provider_metadata(part, wire)
        elif kind in ("text-end", "reasoning-end"):
            part = self._open.pop((kind[:-4], wire["id"]), None)
            if part is not None:
                self._join(part)
                part["state"] = "done"
                _keep_provider_metadata(part, wire)
        elif kind == "start":
            self.message_id = wire.get("messageId") or self.message_id
            self._merge_metadata(wire.get("messageMetadata"))
        elif kind == "start-step":
            self._add(producer, {"type": "step-start"})
        elif kind.startswith("tool-"):
            self._apply_tool(wire, producer)
        elif kind.startswith("data-"):
            self._apply_data(kind, wire, producer)
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
                del self._pieces[id(part)]

    def _add(self, producer: str, part: dict[str, Any]) -> None:
        self._parts.append((producer, part))

    def _open_text(self, part_type: str, text_id: str, producer: str) -> dict[str, Any]:
        earlier = self._open.get((part_type, text_id))
        if earlier is not None:  # the same id opened again: the earlier part keeps its text
            self._join(earlier)
        part = {"type": part_type, "text": "", "state": "streaming"}
        self._open[(part_type, text_id)] = part
        self._pieces[id(part)] = []
        self._add(producer, part)
        return part

    def _join(self, part: dict[str, Any]) -> None:
        pieces = self._pieces.pop(id(part), None)
        if pieces:
            part["text"] += "".join(pieces)

    def _join_open(self) -> None:
        for part in self._open.values():
            pieces = self._pieces[id(part)]
            if pieces:
                part["text"] += "".join(pieces)
                pieces.clear()

    def _close_open(self) -> None:
        for part in self._open.values():
            self._join(part)
            part["state"] = "done"
        self._open.clear()

    def _merge_metadata(self, metadata: Any) -> None:
        if isinstance(metadata, dict):
            self.metadata = {**(self.metadata or {}), **metadata}

    def _apply_data(self, kind: str, wire: dict[str, Any], producer: str) -> None:
        if wire.get("transient"):
            return
        if "id" in wire:
            for _, existing in self._parts:
                if existing.get("type") == kind and existing.get("id") == wire["id"]:
                    existing["data"] = wire.get("data")
                    return
            self._add(producer, {"type": kind, "id": wire["id"], "data": wire.get("data")})
        else:
            self._add(producer, {"type": kind, "data": wire.get("data")})

    def _find_tool(self, tool_call_id: str) -> dict[str, Any] | None:
        for _, part in self._parts:
            if part.get("toolCallId") == tool_call_id:
                return part
        return None

    def _apply_tool(self, wire: dict[str, Any], producer: str) -> None:
        if wire["type"] == "tool-input-delta":
            return  # changes no part (see fold_tool_chunk); one per argument token: no search
        part = self._find_tool(wire.get("toolCallId", ""))
        if part is None:
            if wire["type"] != "tool-input-start" and "toolName" not in wire:
                return  # a chunk for a call this message never announced
            part = new_tool_part(wire)
            self._add(producer, part)
        fold_tool_chunk(part, wire)

    # -- reading ------------------------------------------------------------------------------

    def __len__(self) -> int:
        """How many parts the message has."""
        return len(self._parts)

    @property
    def parts(self) -> list[dict[str, Any]]:
        self._join_open()
        return [dict(p) for _, p in self._parts]

    def take_parts(self) -> list[dict[str, Any]]:
        """The parts themselves, without copying, for a caller that is done building."""
        self._close_open()
        return [p for _, p in self._parts]

    def text(self) -> str:
        """The answer's text: its text parts but those of a named thread's answer."""
        self._join_open()
        return "".join(p.get("text", "") for _, p in self._parts if is_main_text(p))

    def snapshot(self) -> UIMessage:
        """A deep copy of the message as it stands."""
        return UIMessage(
            id=self.message_id,
            role="assistant",
            parts=copy.deepcopy(self.parts),
            metadata=copy.deepcopy(self.metadata),
        )
