"""The chat store: the system of record for conversations, in SQLite or PostgreSQL.

Temporal runs a chat; the store keeps it: each chat's row (agent, owner, title, metadata,
archived flag, times) and every message of its transcript, with full-text search over both.
`ChatStore.open(url)` connects and migrates. See docs/store.md.
"""

from agentchat.store._records import (
    MAX_CHAT_ID,
    MAX_METADATA_BYTES,
    MAX_OWNER,
    MAX_TITLE,
    Attachment,
    ChatPage,
    ChatRecord,
    StoredMessage,
    default_title,
    message_text,
)
from agentchat.store._store import MAX_LIST_LIMIT, SEARCH_TEXT_CHARS, ChatStore

__all__ = [
    "MAX_CHAT_ID",
    "MAX_LIST_LIMIT",
    "MAX_METADATA_BYTES",
    "MAX_OWNER",
    "MAX_TITLE",
    "SEARCH_TEXT_CHARS",
    "Attachment",
    "ChatPage",
    "ChatRecord",
    "ChatStore",
    "StoredMessage",
    "default_title",
    "message_text",
]
