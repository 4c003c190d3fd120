"""What the store returns, its limits, and the pure helpers that derive search text and titles."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, Field

__all__ = [
    "MAX_CHAT_ID",
    "MAX_METADATA_BYTES",
    "MAX_OWNER",
    "MAX_TITLE",
    "Attachment",
    "ChatPage",
    "ChatRecord",
    "StoredMessage",
    "check_chat_id",
    "check_metadata",
    "check_owner",
    "check_title",
    "default_title",
    "message_text",
]

MAX_CHAT_ID = 200
"""Longest chat id, in characters."""
MAX_OWNER = 200
"""Longest owner, in characters."""
MAX_TITLE = 200
"""Longest title, in characters (an automatic title is cut to fit, a given one is refused)."""
MAX_METADATA_BYTES = 16 * 1024
"""Largest user metadata, as compact JSON."""
DEFAULT_TITLE_CHARS = 60
"""An automatic title is the first user message cut near this many characters."""


class ChatRecord(BaseModel):
    """One chat as the store keeps it.

    Attributes:
        chat_id: The chat's id (the workflow id's chat part).
        agent: The agent that serves it.
        owner: Who owns it, fixed at creation; None for chats without an owner.
        title: Its title, None until the first turn is saved or it is renamed.
        metadata: The user's metadata, a JSON object.
        archived: Hidden from the default listing, kept otherwise.
        deleting: Set while a deletion runs; such chats are never listed.
        created_at: When the row was created (aware, UTC).
        updated_at: Last activity: a turn saved, a rename, an archive (aware, UTC).
        last_turn: The highest turn saved.
        message_count: How many messages the transcript holds.
        state: Internal workflow bits (sub-chats, preload flags), opaque to the store.
        parent: The chat that owns this one (a sub-agent's chat), None for most chats.
    """

    chat_id: str
    agent: str
    owner: str | None
    title: str | None
    metadata: dict[str, Any]
    archived: bool
    deleting: bool
    created_at: datetime
    updated_at: datetime
    last_turn: int
    message_count: int
    state: dict[str, Any]
    parent: str | None = None


class StoredMessage(BaseModel):
    """One message of a chat's transcript.

    Attributes:
        position: Its 0-based index in the transcript.
        turn: The turn that wrote it.
        message: The AI SDK UIMessage as JSON (id, role, parts, metadata).
        usage: Token usage of the turn, on the turn's last assistant message when known.
    """

    position: int
    turn: int
    message: dict[str, Any]
    usage: dict[str, Any] | None = None


class Attachment(BaseModel):
    """A file (blob) a chat holds: its messages may refer to it, and its readers fetch it.

    Attributes:
        chat_id: The chat.
        ref: The blob's ref (`sha256-<hex>`).
        media_type: Its media type, as uploaded to this chat.
        size: Bytes.
        filename: The name it was uploaded with, if any.
        created_at: When it was first attached to the chat (aware, UTC).
    """

    chat_id: str
    ref: str
    media_type: str
    size: int
    filename: str | None = None
    created_at: datetime


class ChatPage(BaseModel):
    """One page of a chat listing.

    Attributes:
        chats: The chats, newest activity first.
        next_cursor: Pass it as `cursor` for the next page; None on the last page.
    """

    chats: list[ChatRecord] = Field(default_factory=list)
    next_cursor: str | None = None


def message_text(message: dict[str, Any]) -> str:
    """The text parts of a UIMessage (as JSON), joined by newlines: what search indexes.

    Args:
        message: A UIMessage as a dict; anything not shaped like one yields "".

    Returns:
        The text of its `text` parts, one per line.
    """
    parts = message.get("parts")
    if not isinstance(parts, list):
        return ""
    texts = [
        part["text"]
        for part in parts
        if isinstance(part, dict)
        and part.get("type") == "text"
        and isinstance(part.get("text"), str)
    ]
    return "\n".join(texts)


def default_title(text: str, limit: int = DEFAULT_TITLE_CHARS) -> str:
    """A title from a chat's first user message: whitespace collapsed, cut at a word boundary.

    Args:
        text: The message's text.
        limit: Cut near this many characters (never more than `MAX_TITLE`).

    Returns:
        The text itself when it is short enough, else its first words and an ellipsis.
    """
    limit = min(limit, MAX_TITLE - 1)
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit + 1]
    space = cut.rfind(" ")
    # A word longer than most of the title (a URL, say) is cut inside rather than dropped.
    head = cut[:space] if space >= limit // 2 else flat[:limit]
    return head.rstrip(" .,;:!?-") + "…"


def check_chat_id(chat_id: str) -> None:
    """Raise ValueError unless `chat_id` is a non-empty string within `MAX_CHAT_ID`."""
    if not isinstance(chat_id, str) or not chat_id:
        raise ValueError("chat_id must be a non-empty string")
    if len(chat_id) > MAX_CHAT_ID:
        raise ValueError(f"chat_id is {len(chat_id)} characters, over the limit of {MAX_CHAT_ID}")


def check_owner(owner: str | None) -> None:
    """Raise ValueError unless `owner` is None or a non-empty string within `MAX_OWNER`."""
    if owner is None:
        return
    if not isinstance(owner, str) or not owner:
        raise ValueError("owner must be a non-empty string or None")
    if len(owner) > MAX_OWNER:
        raise ValueError(f"owner is {len(owner)} characters, over the limit of {MAX_OWNER}")


def check_title(title: str) -> None:
    """Raise ValueError unless `title` is a string within `MAX_TITLE`."""
    if not isinstance(title, str):
        raise ValueError("title must be a string")
    if len(title) > MAX_TITLE:
        raise ValueError(f"title is {len(title)} characters, over the limit of {MAX_TITLE}")


def check_metadata(metadata: Any) -> dict[str, Any]:
    """The metadata, checked: a JSON object of at most `MAX_METADATA_BYTES` as JSON.

    Raises:
        ValueError: It is not a dict, holds what JSON cannot, or is too large.
    """
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a JSON object, not {type(metadata).__name__}")
    try:
        encoded = orjson.dumps(metadata)
    except TypeError as exc:
        raise ValueError(f"metadata must be JSON: {exc}") from None
    if len(encoded) > MAX_METADATA_BYTES:
        raise ValueError(
            f"metadata is {len(encoded):,} bytes as JSON, over the limit of {MAX_METADATA_BYTES:,}"
        )
    # Round-tripped, so what is stored is exactly what a later read returns (tuples -> lists).
    loaded: dict[str, Any] = orjson.loads(encoded)
    return loaded


_WORD = re.compile(r"[^\W_]+")


def search_words(query: str) -> list[str]:
    """The words of a search query: runs of letters and digits, lower-cased, at most 16.

    Everything else (quotes, operators, punctuation) separates words, so no user input can
    change the query's syntax on either database.
    """
    return [word.lower() for word in _WORD.findall(query)][:16]
