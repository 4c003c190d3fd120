"""Which chats a caller may touch, decided by the chat store's record of each chat's owner.

An API key acts for every owner and a chat token for its one chat (`Principal.check_chat`);
a user token acts as its user, who sees only the chats the store records as theirs. Another
owner's chat, an ownerless chat and a chat that does not exist all answer the same `404`
(`ChatNotFoundError`, same message shape), so a user token learns nothing about them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError

from agentchat.client import _stored
from agentchat.connections import get_store, store_failure
from agentchat.errors import ChatNotFoundError
from agentchat.gateway.auth import Principal
from agentchat.settings import Settings

if TYPE_CHECKING:
    from agentchat.store import ChatRecord

__all__ = ["check_may_delete", "check_may_write", "check_visible", "not_found", "record_of"]


def not_found(chat_id: str) -> ChatNotFoundError:
    """The one answer for a chat the caller may not see, whether or not it exists."""
    return ChatNotFoundError(f"no chat {chat_id!r}")


async def record_of(settings: Settings, chat_id: str) -> ChatRecord | None:
    """The chat's row, deletion mark included; None when the store has no such chat."""
    store = await get_store(settings, who="the gateway")
    try:
        return await store.get_chat(chat_id)
    except (DBAPIError, OSError, ConnectionError) as exc:
        raise store_failure(exc, settings.database_url or "") from exc


async def check_visible(settings: Settings, principal: Principal, chat_id: str) -> None:
    """A user token may only read or control a chat the store records as its user's."""
    if principal.owner is None:
        return
    try:
        await _stored.load_record(settings, chat_id, principal.owner)
    except ChatNotFoundError:
        raise not_found(chat_id) from None


async def check_may_write(settings: Settings, owner: str | None, chat_id: str) -> None:
    """Input that may create the chat, on behalf of `owner` (None: any): another owner's
    chat is refused before it reaches the workflow (which refuses it too)."""
    if owner is None:
        return
    record = await record_of(settings, chat_id)
    if record is not None and record.owner != owner:
        raise not_found(chat_id)


async def check_may_delete(settings: Settings, principal: Principal, chat_id: str) -> None:
    """A user token deletes only a chat the store records as its user's, also while its
    deletion runs (deleting twice is harmless); an API key or chat token any id it may name."""
    if principal.owner is None:
        return
    record = await record_of(settings, chat_id)
    if record is None or record.owner != principal.owner:
        raise not_found(chat_id)
