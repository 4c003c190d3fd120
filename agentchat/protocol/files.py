"""File parts: how a message carries an attachment, by reference and never by its bytes.

A file in a message is the AI SDK's `file` part. Its `url` is the gateway's route for the
file in that chat (relative, `/v1/chats/{chat_id}/files/{ref}`), so any UI renders it with
the reader's own credentials, and the blob's ref and size travel in the part's
`providerMetadata` under `agentchat`:

```json
{"type": "file", "mediaType": "image/png", "filename": "cat.png",
 "url": "/v1/chats/c1/files/sha256-9f86...",
 "providerMetadata": {"agentchat": {"ref": "sha256-9f86...", "size": 48213}}}
```

The bytes live in the blob store (`agentchat.blobs`). Inline data (`data:` URLs, as the AI
SDK's `sendMessage({ files })` sends them) is turned into a blob at the edges (the client,
the gateway) before anything is queued: workflow state, the stream and the chat store only
ever hold the reference. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

__all__ = [
    "FILE_METADATA_KEY",
    "MAX_FILES_PER_MESSAGE",
    "REF_PATTERN",
    "file_parts",
    "file_ref",
    "file_url",
    "has_files",
    "is_data_url",
    "is_file_part",
    "make_file_part",
    "media_type_allowed",
]

REF_PATTERN = r"^sha256-[0-9a-f]{64}$"
"""A blob ref is `sha256-` and the content's SHA-256 in lowercase hex: URL- and path-safe."""
_REF = re.compile(REF_PATTERN)
FILE_METADATA_KEY = "agentchat"
"""The key of a file part's `providerMetadata` that holds its blob ref and size."""
MAX_FILES_PER_MESSAGE = 20
"""File parts in one message at most (an agent may allow fewer: `FilePolicy.max_files`)."""


def is_file_part(part: dict[str, Any]) -> bool:
    """Whether a message part is a `file` part."""
    return part.get("type") == "file"


def is_data_url(url: object) -> bool:
    """Whether `url` is inline data (`data:...`) rather than a reference."""
    return isinstance(url, str) and url[:5].lower() == "data:"


def file_ref(part: dict[str, Any]) -> str | None:
    """The blob ref a file part carries, or None when it carries none (or a malformed one)."""
    metadata = part.get("providerMetadata")
    if not isinstance(metadata, dict):
        return None
    ours = metadata.get(FILE_METADATA_KEY)
    if not isinstance(ours, dict):
        return None
    ref = ours.get("ref")
    return ref if isinstance(ref, str) and _REF.fullmatch(ref) else None


def file_url(chat_id: str, ref: str) -> str:
    """The gateway's route for a file of a chat (relative: any gateway replica serves it)."""
    return f"/v1/chats/{chat_id}/files/{ref}"


def make_file_part(
    chat_id: str, ref: str, media_type: str, size: int, filename: str | None = None
) -> dict[str, Any]:
    """The `file` part that refers to a blob attached to a chat."""
    part: dict[str, Any] = {"type": "file", "mediaType": media_type}
    if filename:
        part["filename"] = filename
    part["url"] = file_url(chat_id, ref)
    part["providerMetadata"] = {FILE_METADATA_KEY: {"ref": ref, "size": size}}
    return part


def file_parts(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The file parts among a message's parts, in order."""
    return [p for p in parts if is_file_part(p)]


def has_files(messages: list[Any]) -> bool:
    """Whether any of the messages (`UIMessage`s) has a file part."""
    return any(is_file_part(p) for m in messages for p in m.parts)


def media_type_allowed(media_type: str, allowed: Collection[str]) -> bool:
    """Whether `media_type` is among `allowed`: exact types (`application/pdf`), wildcards
    over a top-level type (`image/*`), or `*/*` (or `*`). Parameters and case are ignored."""
    essence = _essence(media_type)
    kind = essence.partition("/")[0]
    for pattern in allowed:
        pattern = _essence(pattern)
        if pattern in ("*", "*/*", essence) or pattern == f"{kind}/*":
            return True
    return False


def _essence(media_type: str) -> str:
    return media_type.split(";", 1)[0].strip().lower()
