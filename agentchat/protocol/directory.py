"""The directory of chats as callers see it: one chat's record and a page of them.

`AgentChat.info()`, `Chats.list()` and the gateway's `/v1/chats` routes return these; the
chat store keeps more (internal state, the deletion mark) that never leaves it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["ChatInfo", "ChatList"]


class ChatInfo(BaseModel):
    """A chat as the chat store records it."""

    chat_id: str
    agent: str
    owner: str | None = None
    title: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    archived: bool = False
    created_at: datetime
    updated_at: datetime
    """The chat's last activity: a turn, a rename, an archive."""
    last_turn: int = 0
    message_count: int = 0


class ChatList(BaseModel):
    """A page of chats, newest activity first; `next_cursor` fetches the next one."""

    chats: list[ChatInfo]
    next_cursor: str | None = None
