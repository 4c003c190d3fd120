"""Input limits, checked on the client before anything is sent and again in the workflow."""

from __future__ import annotations

from agentchat.errors import InvalidMessageError, MessageTooLargeError
from agentchat.protocol.identifiers import ID_CHARACTERS, MAX_MESSAGE_ID_LENGTH, is_message_id
from agentchat.protocol.messages import UIMessage

__all__ = ["MAX_MESSAGE_BYTES", "MAX_MESSAGE_ID_LENGTH", "check_user_message"]

MAX_MESSAGE_BYTES = 256 * 1024
"""Largest user message, as JSON. Temporal rejects payloads over 2 MB and warns past 512 KB;
a message also travels inside every later LLM step's input, so we stay well below both."""


def check_user_message(message: UIMessage, *, where: str = "message") -> None:
    """Raise `InvalidMessageError` (or `MessageTooLargeError`) naming what is wrong."""
    if message.role != "user":
        raise InvalidMessageError(f"{where}.role must be 'user', got {message.role!r}")
    if not is_message_id(message.id):
        raise InvalidMessageError(
            f"{where}.id must be 1-{MAX_MESSAGE_ID_LENGTH} characters of {ID_CHARACTERS},"
            f" got {message.id[:60]!r}"
        )
    if not message.parts:
        raise InvalidMessageError(f"{where}.parts is empty: a message needs at least one part")
    for i, part in enumerate(message.parts):
        kind = part.get("type")
        if not isinstance(kind, str):
            raise InvalidMessageError(f"{where}.parts[{i}].type is missing")
        if kind == "text" and not isinstance(part.get("text"), str):
            raise InvalidMessageError(f"{where}.parts[{i}].text must be a string")
    if not any(p.get("type") != "text" or str(p.get("text", "")).strip() for p in message.parts):
        raise InvalidMessageError(f"{where} is empty: its text is blank")
    size = len(message.model_dump_json().encode())
    if size > MAX_MESSAGE_BYTES:
        raise MessageTooLargeError(
            f"{where} is {size} bytes as JSON; the limit is {MAX_MESSAGE_BYTES} bytes"
        )
