"""A chat's Redis Stream: everything that writes, reads or trims it.

Each turn's chunks are entries of one stream per chat (`chat_keys`), appended by fenced writers
(`StreamWriter`, through `append.lua`, coalesced by `_multiplex`) and read back by `ChatStream`,
whose entry ids are the resumable cursors clients keep.
"""

from agentchat.stream._reader import ChatResult, ChatStream, EntrySource
from agentchat.stream._store import Entry, Retention, StreamStore, StreamWriter, chat_keys

__all__ = [
    "ChatResult",
    "ChatStream",
    "Entry",
    "EntrySource",
    "Retention",
    "StreamStore",
    "StreamWriter",
    "chat_keys",
]
