"""What a client reads and changes in the chat store: a chat's record, its stored history,
renames and archiving, deletion, and the directory of chats (`Chats`).

Every call made for an owner sees that owner's chats only: another owner's chat raises
`ChatNotFoundError`, exactly as a chat that does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from agentchat.connections import get_store, get_temporal, store_failure
from agentchat.errors import ChatNotFoundError
from agentchat.protocol.contracts import DeleteChatInput, DeleteChatResult
from agentchat.protocol.directory import ChatInfo, ChatList
from agentchat.protocol.messages import UIMessage
from agentchat.settings import Settings
from agentchat.workflows.delete import DeleteChatWorkflow, delete_workflow_id

if TYPE_CHECKING:
    from agentchat.store import ChatRecord, ChatStore

__all__ = [
    "delete_chat",
    "info_of",
    "list_chats",
    "load_record",
    "stored_history",
    "update_chat",
]

T = TypeVar("T")


async def _db(settings: Settings, call: Awaitable[T]) -> T:
    """A store call, its database failures as `StoreUnavailableError`."""
    from sqlalchemy.exc import DBAPIError

    try:
        return await call
    except (DBAPIError, OSError, ConnectionError) as exc:
        raise store_failure(exc, settings.database_url or "") from exc


async def _store(settings: Settings, what: str) -> ChatStore:
    return await get_store(settings, who=what)


def info_of(record: ChatRecord) -> ChatInfo:
    return ChatInfo.model_validate(record.model_dump(exclude={"state", "deleting"}))


def _visible(record: ChatRecord | None, owner: str | None) -> bool:
    if record is None or record.deleting:
        return False
    return owner is None or record.owner == owner


async def load_record(settings: Settings, chat_id: str, owner: str | None) -> ChatRecord:
    """The chat's row, if this owner (None: any) may see it; else `ChatNotFoundError`."""
    store = await _store(settings, "info()")
    record = await _db(settings, store.get_chat(chat_id))
    if not _visible(record, owner):
        raise ChatNotFoundError(f"no chat {chat_id!r}")
    assert record is not None
    return record


async def stored_history(
    settings: Settings, chat_id: str, owner: str | None
) -> list[UIMessage] | None:
    """The stored conversation; None when the store has no such chat (nor the owner's)."""
    store = await _store(settings, "history()")
    record = await _db(settings, store.get_chat(chat_id))
    if record is None and owner is None:
        return None
    if not _visible(record, owner):
        raise ChatNotFoundError(f"no chat {chat_id!r}")
    rows = await _db(settings, store.load_messages(chat_id))
    return [UIMessage.model_validate(row.message) for row in rows]


async def update_chat(
    settings: Settings,
    chat_id: str,
    owner: str | None,
    *,
    title: str | None = None,
    archived: bool | None = None,
    metadata: dict[str, Any] | None = None,
) -> ChatInfo:
    await load_record(settings, chat_id, owner)
    store = await _store(settings, "update()")
    record = await _db(
        settings, store.update_chat(chat_id, title=title, archived=archived, metadata=metadata)
    )
    if record is None:
        raise ChatNotFoundError(f"no chat {chat_id!r}")
    return info_of(record)


async def delete_chat(
    settings: Settings, chat_id: str, owner: str | None, *, wait: bool = True
) -> DeleteChatResult | None:
    """Start (or join) the chat's durable deletion; with `wait`, its result."""
    if owner is not None:
        store = await _store(settings, "delete()")
        record = await _db(settings, store.get_chat(chat_id))
        if record is not None and record.owner != owner:
            raise ChatNotFoundError(f"no chat {chat_id!r}")
    client = await get_temporal(settings)
    handle = await client.start_workflow(
        DeleteChatWorkflow.run,
        DeleteChatInput(chat_id=chat_id),
        id=delete_workflow_id(chat_id),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        static_summary=f"delete chat {chat_id}",
    )
    if not wait:
        return None
    return await handle.result()


async def list_chats(
    settings: Settings,
    *,
    owner: str | None = None,
    agent: str | None = None,
    query: str | None = None,
    archived: bool | None = False,
    limit: int = 50,
    cursor: str | None = None,
) -> ChatList:
    store = await _store(settings, "Chats.list()")
    page = await _db(
        settings,
        store.list_chats(
            owner=owner, agent=agent, query=query, archived=archived, limit=limit, cursor=cursor
        ),
    )
    return ChatList(chats=[info_of(r) for r in page.chats], next_cursor=page.next_cursor)
