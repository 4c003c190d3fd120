"""A chat's event stream in Redis: keys, envelopes, the fenced append and the reads.

One Redis Stream per chat holds one JSON envelope per entry: an AI SDK chunk carried verbatim
(`k: "chunk"`) or a control record (`turn-start`, `attempt-start`, `turn-end`, `input`). All keys
of a chat share the hash tag `{<chat id>}` so a Redis Cluster keeps them in one slot, which the
Lua append script needs. The writer that batches a producer's chunks into appends is
`agentchat.stream._writer.StreamWriter`, re-exported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError, ResponseError

from agentchat.errors import InvalidCursorError, RedisUnavailableError
from agentchat.protocol.envelope import kind_of
from agentchat.stream._multiplex import AppendBatcher, ReadMux, as_text
from agentchat.stream._multiplex import id_tuple as id_tuple  # where readers have long found it
from agentchat.stream._writer import StreamWriter

__all__ = [
    "Entry",
    "Retention",
    "StreamStore",
    "StreamWriter",
    "chat_keys",
    "check_cursor",
]

_CURSOR = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
_MAX_ID_PART = 2**64 - 1
_SHARED_READ_MS = 20
"""Reads blocking at least this long share the process's `XREAD`; shorter ones are polls."""
_APPEND_LUA = resources.files("agentchat.stream").joinpath("append.lua").read_text()


def chat_keys(chat_id: str) -> tuple[str, str, str]:
    """The events stream, meta hash and fence hash of a chat (one cluster slot)."""
    tag = f"agentchat:{{{chat_id}}}"
    return f"{tag}:events", f"{tag}:meta", f"{tag}:fence"


def check_cursor(cursor: str) -> str:
    """Return `cursor` if it is a Redis stream entry id, else raise `InvalidCursorError`."""
    if (
        not isinstance(cursor, str)
        or not _CURSOR.fullmatch(cursor)
        or max(id_tuple(cursor)) > _MAX_ID_PART  # Redis would refuse it
    ):
        raise InvalidCursorError(
            f"invalid cursor {str(cursor)[:60]!r}: expected a Redis stream entry id such as"
            " '1766399999123-0' (the last_event_id of a ChatSession or an SSE id: line)"
        )
    return cursor


@dataclass(frozen=True)
class Retention:
    """How much of a chat's stream Redis keeps. The transcript, not the stream, is the record."""

    keep_turns: int = 10
    """Whole turns kept for reconnects; older ones are trimmed when a turn ends."""
    max_entries: int = 20_000
    """Approximate cap on entries (`XADD MAXLEN ~`), a guard against one runaway turn."""
    ttl_seconds: int = 7 * 24 * 3600
    """While a turn runs, the stream expires this long after its last write."""
    idle_ttl_seconds: int = 600
    """After a turn ends, the chat's keys expire this long after it unless another turn
    starts: an idle chat costs Redis nothing (its transcript lives in the workflow)."""


@dataclass(frozen=True)
class Entry:
    """One stream entry: its id (the cursor) and its decoded envelope."""

    id: str
    envelope: dict[str, Any]
    raw: bytes = b""
    """The envelope's JSON as stored (forwarded as is by the gateway)."""

    @property
    def kind(self) -> str:
        return kind_of(self.envelope)

    @property
    def turn(self) -> int:
        return int(self.envelope.get("turn", 0))


class StreamStore:
    """Reads and control operations on chat streams, over one shared Redis client."""

    def __init__(self, redis: Redis | RedisCluster, retention: Retention | None = None) -> None:
        self.redis = redis
        self.retention = retention or Retention()
        self._append = redis.register_script(_APPEND_LUA)
        self._stops: StopListener | None = None
        # A Lua call may only touch one cluster slot: on a cluster each chat calls alone.
        cluster = isinstance(redis, RedisCluster)
        self._batcher = None if cluster else AppendBatcher(self._call_append)
        self._reads = None if cluster else ReadMux.of(redis)  # type: ignore[arg-type]

    async def _call_append(self, keys: list[str], args: list[Any]) -> list[list[Any]]:
        replies: Any = await self._append(keys=keys, args=args)
        return list(replies)

    async def append(
        self,
        chat_id: str,
        *,
        producer: str,
        attempt: int,
        turn: int,
        role: Literal["start", "step", "end"],
        batch: list[tuple[int, bytes]],
    ) -> tuple[str, str, bool]:
        """Append `(seq, envelope)` pairs for one producer; returns (status, last id, stop).

        Concurrent appends of different chats share one Redis call (`AppendBatcher`).
        """
        keys = chat_keys(chat_id)
        args: list[Any] = [
            producer,
            attempt,
            turn,
            role,
            self.retention.max_entries,
            self.retention.ttl_seconds,
            self.retention.keep_turns,
            self.retention.idle_ttl_seconds,
        ]
        size = 0
        for seq, envelope in batch:
            args.extend((seq, envelope))
            size += len(envelope)
        if self._batcher is not None:
            reply = await self._batcher.submit(keys, args, size)
        else:
            (reply,) = await self._call_append(list(keys), [len(args), *args])
        status, last_id, stop = reply
        if as_text(status) == "ERR":
            raise ResponseError(f"appending to chat {chat_id!r}: {as_text(last_id)}")
        return as_text(status), as_text(last_id), bool(int(stop))

    async def read(
        self, chat_id: str, after: str, *, block_ms: int, count: int = 500
    ) -> list[Entry]:
        """Entries after `after`, waiting up to `block_ms` for the first one.

        Blocking reads of all chats share one `XREAD` (`ReadMux`); a short one goes alone.
        """
        events = chat_keys(chat_id)[0]
        reads = self._reads
        if reads is not None and block_ms >= _SHARED_READ_MS and reads.serves(events, after):
            rows = await reads.read(events, after, block_ms=block_ms, count=count)
        else:
            reply: Any = await self.redis.xread({events: after}, count=count, block=block_ms)
            rows = reply[0][1] if reply else []
        return [Entry(as_text(i), orjson.loads(fields[b"e"]), fields[b"e"]) for i, fields in rows]

    async def entry(self, chat_id: str, entry_id: str) -> Entry | None:
        events = chat_keys(chat_id)[0]
        rows: Any = await self.redis.xrange(events, entry_id, entry_id, count=1)
        return Entry(as_text(rows[0][0]), orjson.loads(rows[0][1][b"e"])) if rows else None

    @property
    def unavailable_error(self) -> type[Exception]:
        return RedisUnavailableError

    async def has_after(self, chat_id: str, entry_id: str) -> bool:
        """Whether the stream holds an entry after `entry_id`."""
        rows: Any = await self.redis.xrange(chat_keys(chat_id)[0], f"({entry_id}", "+", count=1)
        return bool(rows)

    async def trimmed_before(self, chat_id: str) -> str | None:
        """Retention removed every entry before this id (None: nothing was trimmed)."""
        marker = await self.redis.hget(chat_keys(chat_id)[1], "trimmed")
        return as_text(marker) if marker else None

    async def first_entry(self, chat_id: str) -> Entry | None:
        rows: Any = await self.redis.xrange(chat_keys(chat_id)[0], "-", "+", count=1)
        return Entry(as_text(rows[0][0]), orjson.loads(rows[0][1][b"e"])) if rows else None

    async def first_id(self, chat_id: str) -> str | None:
        first = await self.first_entry(chat_id)
        return first.id if first is not None else None

    async def last_id(self, chat_id: str) -> str:
        """The newest entry id, or `0-0` for an empty or missing stream."""
        rows: Any = await self.redis.xrevrange(chat_keys(chat_id)[0], "+", "-", count=1)
        return as_text(rows[0][0]) if rows else "0-0"

    async def active_turn(self, chat_id: str) -> tuple[int | None, str | None]:
        """The running turn and the id of its `turn-start` entry, if a turn runs."""
        meta = chat_keys(chat_id)[1]
        active = await self.redis.hget(meta, "active")
        if not active:
            return None, None
        start = await self.redis.hget(meta, f"start:{as_text(active)}")
        return int(active), as_text(start) if start else None

    async def turn_start(self, chat_id: str, turn: int) -> str | None:
        start = await self.redis.hget(chat_keys(chat_id)[1], f"start:{turn}")
        return as_text(start) if start else None

    async def delete_chat(self, chat_id: str) -> int:
        """Erase a chat's stream, meta and fence keys (a deleted chat leaves none); returns how
        many existed."""
        return int(await self.redis.delete(*chat_keys(chat_id)))

    async def request_stop(self, chat_id: str) -> int | None:
        """The Redis fast path of `stop()`: flag the active turn so its writer sees it at once."""
        meta = chat_keys(chat_id)[1]
        active = await self.redis.hget(meta, "active")
        if not active:
            return None
        await self.flag_stop(chat_id, int(active))
        return int(active)

    async def flag_stop(self, chat_id: str, turn: int) -> None:
        """Set the turn's stop flag (read by every flush) and wake its writer at once."""
        await self.redis.hset(chat_keys(chat_id)[1], "stop", turn)
        await self.redis.publish(STOP_CHANNEL, f"{chat_id}\n{turn}")

    def watch_stops(self, writer: StreamWriter) -> None:
        if self._stops is None:
            self._stops = StopListener(self.redis)
        self._stops.add(writer)

    def unwatch_stops(self, writer: StreamWriter) -> None:
        if self._stops is not None:
            self._stops.discard(writer)


STOP_CHANNEL = "agentchat:stops"


class StopListener:
    """One pub/sub subscription per worker process that wakes the writers of stopped turns.

    Without it every running step would poll Redis for its stop flag many times a second.
    Pub/sub is lossy, so it is only the fast path: every flush still reads the flag, writers
    poll it once a second while quiet, and the workflow cancels a step that does not stop.
    """

    def __init__(self, redis: Redis | RedisCluster) -> None:
        self.redis = redis
        self.writers: dict[str, set[StreamWriter]] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, writer: StreamWriter) -> None:
        self.writers.setdefault(writer.chat_id, set()).add(writer)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen(), name="agentchat stop listener")

    def discard(self, writer: StreamWriter) -> None:
        chat = self.writers.get(writer.chat_id)
        if chat is not None:
            chat.discard(writer)
            if not chat:
                del self.writers[writer.chat_id]

    async def _listen(self) -> None:
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(STOP_CHANNEL)
                async for message in pubsub.listen():
                    chat_id, _, turn = as_text(message.get("data", b"")).rpartition("\n")
                    for writer in list(self.writers.get(chat_id, ())):
                        if turn.isdigit() and writer.turn == int(turn):
                            writer.stop_requested = True
                            writer.interrupted.set()
            except (RedisError, OSError):
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
