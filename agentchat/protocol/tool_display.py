"""What clients see of a tool's calls, by the tool's `display` (see `agentchat.tools.Tool`).

Pure functions shared by the LLM step and the tool call activity (which write a call's chunks)
and the workflow (which publishes client tool results, approvals and failures): the model and
the transcript always get a call whole; clients get what the tool's display allows.

A call of a tool not displayed "stream" is marked with `providerMetadata` on the chunks that
open it (`tool-input-start`, `-available`, `-error`: the AI SDK's schema allows it there, and
its client keeps it on the part as `callProviderMetadata`, as `MessageBuilder` does).
"""

from __future__ import annotations

from typing import Any

from agentchat.protocol.contracts import Display

__all__ = [
    "DISPLAYS",
    "HIDDEN_ERROR",
    "client_tool_chunk",
    "display_metadata",
    "marked_tool_chunk",
]

DISPLAYS: tuple[Display, ...] = ("hidden", "name", "description", "stream")
"""The display modes of a tool, from showing clients nothing to showing them everything."""

HIDDEN_ERROR = "the tool failed"
"""The error text clients see of a failed call of a tool displayed "name" or "description"."""

_OPENING = frozenset({"tool-input-start", "tool-input-available", "tool-input-error"})
"""The chunks of a call that carry its marker."""


def display_metadata(display: Display, description: str, *, client: bool) -> dict[str, Any]:
    """The `providerMetadata` marking a call of a tool displayed `display` (not "stream").

    `client=True`: what clients see on the stream (`{"agentchat": {"display": ...}}`, with the
    description for "description"); otherwise the transcript's marker, which always names the
    description, so that history readers can hide or shorten the part as they like.
    """
    marker: dict[str, Any] = {"display": display}
    if display == "description" or not client:
        marker["description"] = description
    return {"agentchat": marker}


def marked_tool_chunk(chunk: dict[str, Any], display: Display, description: str) -> dict[str, Any]:
    """A call's chunk as the transcript folds it: whole, opening chunks with the marker."""
    if display == "stream" or chunk.get("type") not in _OPENING:
        return chunk
    return {**chunk, "providerMetadata": display_metadata(display, description, client=False)}


def client_tool_chunk(
    chunk: dict[str, Any], display: Display, description: str = "", *, client_runs: bool = False
) -> dict[str, Any] | None:
    """What clients see of a call's chunk for a tool displayed `display` (None: nothing).

    "stream": the chunk. "hidden": nothing. "name" and "description": that the call began and
    how it ended, not what went in or came out: no `tool-input-delta`, an empty `input` (whole
    when `client_runs`: a client tool's caller needs it to run the call), a null `output`, a
    generic `errorText`, no preliminary (progress) outputs; opening chunks carry the marker
    (`display_metadata(client=True)`). Approvals and denials pass unchanged.
    """
    if display == "stream":
        return chunk
    if display == "hidden":
        return None
    kind = chunk.get("type")
    call_id = chunk.get("toolCallId")
    if kind == "tool-input-delta":
        return None
    if kind in _OPENING:
        shown = {**chunk, "providerMetadata": display_metadata(display, description, client=True)}
        if kind == "tool-input-error":
            shown["input"] = {}
            shown["errorText"] = HIDDEN_ERROR
        elif kind == "tool-input-available" and not client_runs:
            shown["input"] = {}
        return shown
    if kind == "tool-output-available":
        if chunk.get("preliminary"):
            return None
        return {"type": kind, "toolCallId": call_id, "output": None}
    if kind == "tool-output-error":
        return {"type": kind, "toolCallId": call_id, "errorText": HIDDEN_ERROR}
    return chunk
