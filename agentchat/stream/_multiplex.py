"""Many chats, one Redis round trip: a process's appends share script calls, its readers an XREAD.

A busy worker streams hundreds of chats at once, each flushing tens of times a second, and a
gateway or client process follows as many. Sent one by one, each flush and each blocking read
pays a full client round trip (command packing, a pooled connection, a reply parse, several
event-loop wakeups), which profiling put at a third of a busy worker's CPU. Here appends go
out in at most two calls at once, each carrying whatever queued meanwhile: an idle process
adds no wait, a busy one sends two calls per round trip. Readers share one `XREAD BLOCK`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.connection import AbstractConnection

__all__ = ["AppendBatcher", "ReadMux", "as_text", "id_tuple"]

log = logging.getLogger("agentchat.stream")

_SOCKET_MARGIN = 10.0
"""Seconds a blocked `XREAD`'s reply may take past its block time before the read fails."""

Rows = list[tuple[bytes | str, dict[bytes, bytes]]]
"""A stream's entries as `XREAD` returns them: `(id, fields)`."""

Reply = list[Any]
"""One group's `[status, last_id, stop]` from `append.lua`."""


class AppendBatcher:
    """Coalesces concurrent `append.lua` groups into calls, at most `max_in_flight` at a time.

    A producer's appends never overlap (its writer awaits each before the next), and across
    producers the script's fences (attempt, sequence, turn end) make their order irrelevant,
    so calls may be in flight together. A second one lets what queued meanwhile go out while
    the first one's reply waits for the event loop, which on a busy worker is most of a round
    trip.

    Args:
        call: Runs the script with the given keys and args; returns one reply per group.
        max_groups: The most groups in one call.
        max_bytes: A call stops taking groups past this many argument bytes, so one large
            tool output does not hold up a call carrying other chats' tokens for long.
        max_in_flight: The most calls out at once.
    """

    def __init__(
        self,
        call: Callable[[list[str], list[Any]], Awaitable[list[Reply]]],
        *,
        max_groups: int = 256,
        max_bytes: int = 1 << 20,
        max_in_flight: int = 2,
    ) -> None:
        self._call = call
        self._max_groups = max_groups
        self._max_bytes = max_bytes
        self._max_in_flight = max_in_flight
        self._queue: list[tuple[tuple[str, ...], list[Any], int, asyncio.Future[Reply]]] = []
        self._senders: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, keys: tuple[str, ...], args: list[Any], size: int) -> Reply:
        """Queue one group (`size`: its payload bytes) and wait for its reply."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a store reused on a new event loop
            self._loop, self._senders, self._queue = loop, set(), []
        future: asyncio.Future[Reply] = loop.create_future()
        self._queue.append((keys, args, size, future))
        # A sender that just finished is done() before any done-callback could forget it.
        self._senders = {sender for sender in self._senders if not sender.done()}
        if len(self._senders) < self._max_in_flight:
            self._senders.add(asyncio.create_task(self._send(), name="agentchat append batcher"))
        return await future

    def _take(self) -> list[tuple[tuple[str, ...], list[Any], int, asyncio.Future[Reply]]]:
        taken, total = 0, 0
        for _, _, size, _ in self._queue:
            if taken and (taken >= self._max_groups or total + size > self._max_bytes):
                break
            taken += 1
            total += size
        batch, self._queue = self._queue[:taken], self._queue[taken:]
        return batch

    async def _send(self) -> None:
        while self._queue:
            batch = self._take()
            live = [item for item in batch if not item[3].done()]  # a cancelled flush
            if not live:
                continue
            keys: list[str] = []
            args: list[Any] = []
            for group_keys, group_args, _, _ in live:
                keys.extend(group_keys)
                args.append(len(group_args))
                args.extend(group_args)
            try:
                replies = await self._call(keys, args)
            except asyncio.CancelledError:  # the loop is closing: no flush may wait forever
                for *_, future in [*live, *self._queue]:
                    future.cancel()
                self._queue = []
                raise
            except Exception as exc:  # each flush handles it (a writer logs and retries)
                for *_, future in live:
                    if not future.done():
                        future.set_exception(exc)
                continue
            if len(replies) != len(live):  # not our script's reply: fail, never hang
                error = RedisError(f"append: {len(replies)} replies for {len(live)} chats")
                for *_, future in live:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (*_, future), reply in zip(live, replies, strict=True):
                if not future.done():
                    future.set_result(reply)


@dataclass(eq=False)
class _Reader:
    key: str
    after: tuple[int, int]
    cursor: str
    count: int
    deadline: float
    future: asyncio.Future[Rows] = field(repr=False)


class ReadMux:
    """Every blocked stream read of a process, served by one `XREAD BLOCK` over all their keys.

    One per Redis client (`ReadMux.of`), so every store, chat and gateway stream over that
    client shares it and it holds one pooled connection.

    The `XREAD` blocks on a connection of its own. A reader that arrives while it blocks (a new
    key, or an earlier cursor) wakes it with `CLIENT UNBLOCK` after `UNBLOCK_AFTER` seconds,
    unless it returned by then: under load it returns every few milliseconds anyway.
    """

    UNBLOCK_AFTER = 0.002

    @classmethod
    def of(cls, redis: Redis) -> ReadMux:
        """The reader shared by everything that reads streams through `redis`."""
        mux = _READERS.get(redis)
        if mux is None:
            mux = _READERS[redis] = cls(redis)
        return mux

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._conn: AbstractConnection | None = None
        self._conn_id: int | None = None
        self._readers: dict[str, list[_Reader]] = {}
        self._sender: asyncio.Task[None] | None = None
        self._sent: dict[str, tuple[int, int]] = {}  # what the XREAD in flight covers
        self._blocking = False
        self._waker: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def serves(self, key: str, after: str) -> bool:
        """Whether to read `key` from `after` here: one cursor per stream in an `XREAD`, so a
        second reader of a stream at another cursor (a replay catching up) reads alone."""
        waiting = self._readers.get(key)
        return not waiting or waiting[0].cursor == after

    async def read(self, key: str, after: str, *, block_ms: int, count: int) -> Rows:
        """Entries of stream `key` after `after`, waiting up to `block_ms` for the first."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # reused on a new event loop: nothing of the old one holds
            self._loop, self._sender, self._readers = loop, None, {}
            self._conn, self._conn_id = None, None
        reader = _Reader(
            key,
            id_tuple(after),
            after,
            count,
            time.monotonic() + block_ms / 1000,
            loop.create_future(),
        )
        self._readers.setdefault(key, []).append(reader)
        if self._sender is None or self._sender.done():
            self._sender = loop.create_task(self._run(), name="agentchat stream reader")
        elif self._blocking and self._waker is None and self._uncovered(reader):
            self._waker = loop.call_later(self.UNBLOCK_AFTER, self._wake)
        try:
            return await reader.future
        finally:
            self._drop(reader)  # served, failed, or the caller gave up (its future cancelled)

    def _uncovered(self, reader: _Reader) -> bool:
        """Whether the XREAD in flight misses entries this reader waits for."""
        sent = self._sent.get(reader.key)
        return sent is None or reader.after < sent

    def _drop(self, reader: _Reader) -> None:
        waiting = self._readers.get(reader.key)
        if waiting is not None and reader in waiting:
            waiting.remove(reader)
            if not waiting:
                del self._readers[reader.key]

    def _wake(self) -> None:
        self._waker = None
        if self._blocking and self._conn_id is not None:
            task = asyncio.get_running_loop().create_task(self._unblock(self._conn_id))
            task.add_done_callback(_retrieve)

    async def _unblock(self, conn_id: int) -> None:
        unblocked = await self._redis.client_unblock(conn_id)
        if not unblocked and self._blocking and self._conn_id == conn_id and self._waker is None:
            # The XREAD had not reached Redis yet: try again shortly.
            self._waker = asyncio.get_running_loop().call_later(self.UNBLOCK_AFTER, self._wake)

    async def _run(self) -> None:
        try:
            while self._readers:
                self._expire()
                if not self._readers:
                    break
                await self._read_once()
        except asyncio.CancelledError:  # the loop is closing: no reader may wait forever
            self._fail_all(RedisError("the stream reader was cancelled"))
            raise

    def _expire(self) -> None:
        now = time.monotonic()
        for key in list(self._readers):
            for reader in list(self._readers[key]):
                if reader.deadline <= now:
                    self._drop(reader)
                    if not reader.future.done():
                        reader.future.set_result([])

    async def _read_once(self) -> None:
        try:
            # Connected before the XREAD's keys are chosen: a reader arriving meanwhile is
            # then either in them or, once `_blocking` is set, wakes the XREAD.
            conn = self._conn or await self._connect()
        except Exception as exc:
            self._fail_all(exc)  # every reader resubscribes from its own cursor
            return
        if not any(self._readers.values()):
            return  # every reader left while we connected: nothing to read for
        streams: dict[str, str] = {}
        self._sent = {}
        for key, waiting in self._readers.items():
            first = min(waiting, key=lambda r: r.after)
            streams[key] = first.cursor
            self._sent[key] = first.after
        count = max(r.count for waiting in self._readers.values() for r in waiting)
        deadline = min(r.deadline for waiting in self._readers.values() for r in waiting)
        block = max(1, int((deadline - time.monotonic()) * 1000))
        self._blocking = True
        try:
            # No health check: it may reconnect silently, and the new connection's id would
            # not be the one CLIENT UNBLOCK is sent for.
            await conn.send_command(
                "XREAD",
                "COUNT",
                count,
                "BLOCK",
                block,
                "STREAMS",
                *streams,
                *streams.values(),
                check_health=False,
            )
            # A reply that is late is a dead connection, not an empty read (redis-py's own
            # read timeout returns None, which reads as "no entries").
            async with asyncio.timeout(block / 1000 + _SOCKET_MARGIN):
                reply = await conn.read_response(timeout=math.inf)
        except Exception as exc:
            log.debug("shared stream read failed (%s); readers resubscribe", type(exc).__name__)
            self._fail_all(exc)
            await self._disconnect()
            return
        finally:
            self._blocking = False
            if self._waker is not None:
                self._waker.cancel()
                self._waker = None
        for key, rows in _streams(reply):
            if not rows:
                continue
            newest, sent = id_tuple(rows[-1][0]), self._sent.get(key)
            if sent is None:
                continue  # not a key this XREAD asked for (cannot happen on a sane connection)
            for reader in list(self._readers.get(key, ())):
                if reader.after < sent or newest <= reader.after:
                    # It came after the XREAD was sent, from an earlier cursor: these rows
                    # would skip its gap. Or they are all before its cursor. It waits on.
                    continue
                mine = [row for row in rows if id_tuple(row[0]) > reader.after]
                self._drop(reader)
                if not reader.future.done():
                    reader.future.set_result(mine)

    async def _connect(self) -> AbstractConnection:
        # A pooled connection held for good (a `Redis` client of its own would outlive its
        # event loop in tests); its id lets other connections unblock it.
        pool = self._redis.connection_pool
        conn: AbstractConnection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await conn.send_command("CLIENT", "ID")
            self._conn_id = int(await conn.read_response())
        except BaseException:
            await conn.disconnect()
            await pool.release(conn)
            raise
        self._conn = conn
        return conn

    async def _disconnect(self) -> None:
        conn, self._conn, self._conn_id = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.disconnect()
                await self._redis.connection_pool.release(conn)

    def _fail_all(self, exc: Exception) -> None:
        readers, self._readers = self._readers, {}
        for waiting in readers.values():
            for reader in waiting:
                if not reader.future.done():
                    reader.future.set_exception(exc)


_READERS: weakref.WeakKeyDictionary[Any, ReadMux] = weakref.WeakKeyDictionary()


def _streams(reply: Any) -> list[tuple[str, Rows]]:
    """`XREAD`'s raw reply (RESP2 list or RESP3 map) as (key, [(id, {field: value})])."""
    pairs = reply.items() if isinstance(reply, dict) else (reply or ())
    return [
        (
            as_text(key),
            [(row[0], dict(zip(row[1][::2], row[1][1::2], strict=True))) for row in rows],
        )
        for key, rows in pairs
    ]


def id_tuple(entry_id: bytes | str) -> tuple[int, int]:
    """A stream entry id as `(milliseconds, sequence)`, for ordering."""
    ms, _, seq = as_text(entry_id).partition("-")
    return int(ms), int(seq or 0)


def as_text(value: Any) -> str:
    """A Redis reply value (bytes without `decode_responses`) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # an unblock that failed: the XREAD returns by its own timeout
