"""`StreamWriter`: one producer's chunks, batched into fenced appends to its chat's stream."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Literal, Protocol

import orjson
from redis.exceptions import RedisError

from agentchat import metrics
from agentchat.errors import RedisUnavailableError
from agentchat.protocol.envelope import (
    ATTEMPT,
    CHUNK,
    CHUNK_KEY,
    KIND,
    PRODUCER,
    SEQ,
    THREAD,
    TURN,
    TURN_START,
    VERSION,
)

__all__ = ["CLOSE_PATIENCE", "StreamWriter"]

CLOSE_PATIENCE = 60.0
"""Seconds `close()` keeps retrying its last flush: a Redis restart or a failover takes a few
seconds to tens of seconds; past a minute the step fails and is retried instead."""

log = logging.getLogger("agentchat.stream")

_FRAMING = frozenset({"start-step", "finish-step"})
"""Chunks that ask for no append of their own: they ride with the next one."""
_OPENING = frozenset({"start", "data-steer", *_FRAMING})
"""What a step writes before its model's output: the turn's `start` and an injected steer go out
at once, but no opening starts a coalescing interval, as the first token comes right behind."""


class _Store(Protocol):
    """What a writer uses of `StreamStore` (whose module imports this one, not the reverse)."""

    async def append(
        self,
        chat_id: str,
        *,
        producer: str,
        attempt: int,
        turn: int,
        role: Literal["start", "step", "end"],
        batch: list[tuple[int, bytes]],
    ) -> tuple[str, str, bool]: ...

    def watch_stops(self, writer: StreamWriter) -> None: ...

    def unwatch_stops(self, writer: StreamWriter) -> None: ...


class StreamWriter:
    """Batches one producer's envelopes into fenced appends.

    The first record after a quiet spell goes out at once (time to first token matters most),
    and so does the first content after a step's opening records (see `_OPENING`). What
    follows content is coalesced until `flush_interval` seconds after its append began,
    consecutive text and reasoning deltas of one part merging into one chunk, so Redis sees
    tens of appends a second per chat rather than one per token. Every flush, and a poll every
    `stop_poll` seconds while the producer is quiet, reports whether `stop()` flagged this turn.

    Redis being down must not lose the turn. A failed flush mid-answer is logged and retried
    with the next one (append.lua skips sequence numbers it already has, so a retry never
    doubles an entry). `close()` retries the last flush until Redis takes it, for up to
    `close_patience` seconds: a producer that returned with its output unwritten would let
    the turn's end record follow a gap, and readers would take a truncated answer for the
    whole one. Past the patience `close()` raises, the activity fails retryably, and its next
    attempt supersedes this one's entries.
    """

    def __init__(
        self,
        store: _Store,
        chat_id: str,
        *,
        producer: str,
        attempt: int,
        turn: int,
        role: Literal["start", "step", "end"] = "step",
        flush_interval: float = 0.02,
        stop_poll: float = 1.0,
        thread: str | None = None,
    ) -> None:
        self.store = store
        self.chat_id = chat_id
        self.producer = producer
        self.attempt = attempt
        self.turn = turn
        self.role = role
        self.thread = thread
        """A named thread's name, written on each of its records (`THREAD`)."""
        self.flush_interval = flush_interval
        self.stop_poll = stop_poll
        self.stop_requested = False
        self.fenced = False
        self.interrupted = asyncio.Event()
        """Set once `stop()` flagged this turn or a newer attempt fenced this writer."""
        self.last_id: str | None = None
        self._pending: list[dict[str, Any]] = []
        self._seq = 0
        self._unsent: list[tuple[int, bytes]] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._queued = False  # a record that goes out at once waits for the next flush
        self._content = False  # queued content: its append starts a coalescing interval
        self._nap: asyncio.Future[None] | None = None
        self._nap_ends_on_content = False
        self._closing = False

    # -- producing ----------------------------------------------------------------------------

    def chunk(self, chunk: dict[str, Any]) -> None:
        """Queue an AI SDK chunk (wire dict)."""
        pending = self._pending
        kind = chunk.get("type")
        if pending and kind in ("text-delta", "reasoning-delta"):
            last = pending[-1]
            if last.get(KIND) == CHUNK:
                prev = last[CHUNK_KEY]
                if prev.get("type") == kind and prev.get("id") == chunk.get("id"):
                    prev["delta"] += chunk["delta"]  # per token: no new dict, just the text
                    return
        if pending and kind == "tool-output-available" and chunk.get("preliminary"):
            last = pending[-1]
            prev = last.get(CHUNK_KEY) or {}
            if (
                prev.get("type") == kind
                and prev.get("preliminary")
                and prev.get("toolCallId") == chunk.get("toolCallId")
            ):
                last[CHUNK_KEY] = chunk  # a newer snapshot supersedes the unsent one
                return
        pending.append({KIND: CHUNK, CHUNK_KEY: chunk})
        if kind not in _FRAMING:
            self._queued = True
            self._content = self._content or kind not in _OPENING
            if self._nap_ends_on_content:
                self._wake()

    def open_turn(self, message_id: str, user_message_id: str, trigger: str) -> None:
        """Queue a turn's opening records; the append marks the turn active in the meta hash."""
        self.role = "start"
        self.control(
            TURN_START, messageId=message_id, userMessageId=user_message_id, trigger=trigger
        )
        self.chunk({"type": "start", "messageId": message_id})

    def control(self, record: str, **fields: Any) -> None:
        """Queue a control record (`turn-start`, `turn-end`, `input`, ...).

        Framing and control records ride with the next content or the next stop poll: sending
        them alone would cost an append of its own just before the first token arrives.
        """
        self._pending.append({KIND: record, **fields})

    # -- flushing -----------------------------------------------------------------------------

    def start(self) -> None:
        """Flush in the background every `flush_interval` until `close()`."""
        if self._task is None:
            self.store.watch_stops(self)
            self._task = asyncio.create_task(self._run(), name=f"flush {self.producer}")

    async def _run(self) -> None:
        while not self._closing:
            if not self._queued:
                await self._sleep(self.stop_poll, until_content=True)
            self._queued = False
            began = time.perf_counter()
            _, content = await self._flush()
            if not content:
                # An opening or a stop poll: nothing to coalesce yet. The first token, queued
                # meanwhile or still to come, goes out at once.
                continue
            # Let the next tokens gather until one interval after this append began (cut
            # short by close(), which flushes at once): an append slower than the interval
            # is followed by the next at once, not by another interval.
            rest = self.flush_interval - (time.perf_counter() - began)
            if rest > 0 and not self._closing:
                await self._sleep(rest, until_content=False)

    async def _sleep(self, seconds: float, *, until_content: bool) -> None:
        # A future and a timer rather than `wait_for` on an event: `wait_for` makes a task
        # per wait, and a busy worker waits twice per flush in every running step.
        loop = asyncio.get_running_loop()
        self._nap = nap = loop.create_future()
        self._nap_ends_on_content = until_content
        timer = loop.call_later(seconds, self._wake)
        try:
            await nap
        finally:
            timer.cancel()
            self._nap = None
            self._nap_ends_on_content = False

    def _wake(self) -> None:
        if self._nap is not None and not self._nap.done():
            self._nap.set_result(None)

    @property
    def seq(self) -> int:
        """The last sequence number given to a record (what a turn's end record marks)."""
        return self._seq

    async def close(self, patience: float = CLOSE_PATIENCE) -> None:
        """Stop the background flusher and write what is left, retrying while Redis is down.

        Raises:
            RedisUnavailableError: Redis took none of the rest for `patience` seconds.
        """
        if self._task is not None:
            self._closing = True
            self._wake()
            try:
                await asyncio.shield(self._task)
            finally:
                self._task = None
                self.store.unwatch_stops(self)
        deadline = time.monotonic() + patience
        delay = 0.05
        # Only records left unwritten are worth waiting for: a closing writer polls no stop.
        while (self._pending or self._unsent) and not await self.flush():
            if time.monotonic() + delay > deadline:
                raise RedisUnavailableError(
                    f"chat {self.chat_id!r}: Redis took none of {self.producer}'s last"
                    f" {len(self._unsent)} stream entries in {patience:g}s"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def flush(self) -> bool:
        """Send everything queued; also polls the stop flag. Returns False if Redis failed."""
        sent, _ = await self._flush()
        return sent

    async def _flush(self) -> tuple[bool, bool]:
        """`flush()`, and whether what it sent held content (not only openings and control)."""
        async with self._lock:
            for item in self._pending:
                self._seq += 1
                envelope = {
                    "v": VERSION,
                    TURN: self.turn,
                    PRODUCER: self.producer,
                    ATTEMPT: self.attempt,
                }
                envelope[SEQ] = self._seq
                if self.thread is not None:
                    envelope[THREAD] = self.thread
                envelope.update(item)
                self._unsent.append((self._seq, orjson.dumps(envelope)))
            self._pending.clear()
            content, self._content = self._content, False
            if self.fenced:
                self._unsent.clear()
                return True, content
            entries = len(self._unsent)  # 0: a stop-flag poll, not a write batch
            sent_at = time.perf_counter()
            try:
                status, last_id, stop = await self.store.append(
                    self.chat_id,
                    producer=self.producer,
                    attempt=self.attempt,
                    turn=self.turn,
                    role=self.role,
                    batch=self._unsent,
                )
            except (RedisError, OSError) as exc:
                if entries:
                    metrics.stream_write(entries, "error", time.perf_counter() - sent_at)
                log.warning(
                    "chat %s turn %d: stream write failed (%s); will retry",
                    self.chat_id,
                    self.turn,
                    type(exc).__name__,
                )
                return False, content
            if entries:
                outcome = "fenced" if status == "FENCED" else "ok"
                metrics.stream_write(entries, outcome, time.perf_counter() - sent_at)
            self._unsent.clear()
            if self.role == "start" and last_id:
                self.role = "step"  # the turn is open; later batches are ordinary
            self.stop_requested = self.stop_requested or stop
            if status == "FENCED":
                self.fenced = True
            elif last_id:
                self.last_id = last_id
            if self.stop_requested or self.fenced:
                self.interrupted.set()
            return True, content
