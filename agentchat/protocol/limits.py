"""Input limits, checked on the client before anything is sent and again in the workflow."""

from __future__ import annotations

from typing import Any

from agentchat.errors import InvalidMessageError, MessageTooLargeError
from agentchat.protocol.files import MAX_FILES_PER_MESSAGE, file_ref, is_data_url
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
        if kind == "file":
            _check_file_part(part, f"{where}.parts[{i}]")
    files = sum(1 for p in message.parts if p.get("type") == "file")
    if files > MAX_FILES_PER_MESSAGE:
        raise InvalidMessageError(
            f"{where} has {files} files; a message takes at most {MAX_FILES_PER_MESSAGE}"
        )
    if not any(p.get("type") != "text" or str(p.get("text", "")).strip() for p in message.parts):
        raise InvalidMessageError(f"{where} is empty: its text is blank")
    size = len(message.model_dump_json().encode())
    if size > MAX_MESSAGE_BYTES:
        raise MessageTooLargeError(
            f"{where} is {size} bytes as JSON; the limit is {MAX_MESSAGE_BYTES} bytes"
        )


def _check_file_part(part: dict[str, Any], where: str) -> None:
    """A file part must refer to an uploaded blob: inline bytes never travel in a message."""
    if is_data_url(part.get("url")):
        raise InvalidMessageError(
            f"{where}: inline file data (a data: URL) is not accepted here; upload the file"
            " first (POST /v1/chats/{id}/files, or AgentChat.send_message(files=...)) and send"
            " the file part it returns"
        )
    if not isinstance(part.get("mediaType"), str) or not part["mediaType"]:
        raise InvalidMessageError(f"{where}.mediaType must be a media type such as image/png")
    if file_ref(part) is None:
        raise InvalidMessageError(
            f"{where} refers to no uploaded file: providerMetadata.agentchat.ref must be the"
            " ref the upload returned ('sha256-' and 64 hex digits)"
        )
