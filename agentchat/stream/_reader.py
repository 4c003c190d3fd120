"""`ChatStream`: one turn of a chat, read from its Redis Stream.

The stream is found by correlation, not position: `send_message` waits for the `turn-start`
record naming its user message id, so interleaved turns (queued messages, steer follow-ups,
other clients) never leak into it. Superseded attempts are reset, a dropped Redis connection
is resubscribed from the last id, and `stream_timeout` counts only silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis.exceptions import RedisError

from agentchat.errors import (
    StreamConsumedError,
    StreamError,
    StreamTimeoutError,
    turn_error,
)
from agentchat.protocol.chunks import Chunk, ResetStepChunk, parse_chunk
from agentchat.protocol.contracts import TokenUsage
from agentchat.protocol.envelope import (
    ATTEMPT,
    ATTEMPT_START,
    CHUNK,
    CHUNK_KEY,
    KIND,
    MARKS,
    PRODUCER,
    SEQ,
    SETTLED,
    TURN_END,
    TURN_START,
    VERSION,
)
from agentchat.protocol.messages import MessageBuilder, UIMessage
from agentchat.stream._store import Entry, id_tuple

__all__ = ["ChatResult", "ChatStream", "EntrySource"]

log = logging.getLogger("agentchat.stream")

_POLL_MS = 5000
"""Longest single XREAD BLOCK; between them the stream checks its timeout and the chat."""
_PROBE_POLL_MS = 200
"""XREAD BLOCK while the workflow is being asked, so its answer is acted on soon."""
_PROBE_AFTER = 5.0
"""Seconds of silence before the stream first asks the workflow whether its turn ended."""
_PROBE_MAX_EVERY = 20.0
"""The longest wait between two such questions (the wait doubles after each "no")."""


@dataclass(frozen=True)
class ChatResult:
    """The outcome of one turn."""

    text: str
    message: UIMessage
    finish_reason: str | None
    status: str
    """`completed`, `stopped` or `failed`."""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tool_results: list[dict[str, Any]] = field(default_factory=list)
    turn: int | None = None
    last_event_id: str | None = None
    usage: TokenUsage | None = None
    """The turn's tokens as the providers reported them (its steps, and a compaction in it);
    None when the stream did not carry them (a turn finished from the transcript)."""
    chat_usage: TokenUsage | None = None
    """The chat's running total at the turn's end (titles and summaries included)."""


class EntrySource(Protocol):
    """Where a `ChatStream` reads entries: Redis directly, or the gateway over HTTP.

    `read` raises `OSError` (or `RedisError`) when the connection drops; the stream then
    resubscribes from its last id.
    """

    @property
    def unavailable_error(self) -> type[Exception]: ...

    async def read(
        self, chat_id: str, after: str, *, block_ms: int, count: int = 500
    ) -> list[Entry]: ...

    async def trimmed_before(self, chat_id: str) -> str | None: ...


@dataclass
class _Follow:
    """What a stream follows: a user message's turn, a turn number, or a cursor's turn."""

    user_message_id: str | None = None
    turn: int | None = None


Settled = tuple[int, UIMessage]
"""A turn the workflow says ended, and its assistant message from the transcript."""


class _Question:
    """A silent stream's question to the workflow: did my turn end where I cannot see it?

    Asked in the background while the stream reads on: under load the answer takes seconds,
    and the turn may stream meanwhile. Asked again less and less often while the answer is no.
    """

    def __init__(
        self, ask: Callable[[int | None], Awaitable[Settled | None]] | None, first_after: float
    ) -> None:
        self._ask = ask
        self._first_after = first_after
        self._every = first_after
        self._due = time.monotonic() + first_after
        self._pending: asyncio.Future[Settled | None] | None = None

    @property
    def pending(self) -> bool:
        return self._pending is not None

    def due_in(self) -> float:
        """Seconds until the question is due (infinite while one is pending or none is asked)."""
        if self._ask is None or self._pending is not None:
            return math.inf
        return max(self._due - time.monotonic(), 0.0)

    def ask_if_due(self, turn: int | None) -> None:
        if self._ask is not None and self.due_in() == 0:
            self._pending = asyncio.ensure_future(self._ask(turn))

    def answer(self) -> Settled | None:
        """The turn, if the workflow answered that it ended; raises what asking raised."""
        pending = self._pending
        if pending is None or not pending.done():
            return None
        self._pending = None
        self._every = min(self._every * 2, _PROBE_MAX_EVERY)
        self._due = time.monotonic() + self._every
        return pending.result()

    def heard(self) -> None:
        """The stream moved: forget the question until the next silence."""
        self.drop()
        self._every = self._first_after
        self._due = time.monotonic() + self._every

    def drop(self) -> None:
        if self._pending is not None:
            if self._pending.done() and not self._pending.cancelled():
                self._pending.exception()  # retrieved: not logged as a lost failure
            self._pending.cancel()
            self._pending = None


_ENDING_CHUNKS = frozenset({"finish", "abort", "error"})


def _ends_a_turn(entry: Entry) -> bool:
    """A chunk that ends the turn's message (written with its end record)."""
    return entry.kind == CHUNK and entry.envelope[CHUNK_KEY].get("type") in _ENDING_CHUNKS


class ChatStream:
    """An async iterator over one turn's typed AI SDK chunks.

    It reads like a Python generator: `async for`, `messages()`, `text()` and `result()` all
    draw from one read of the turn, so a loop left early (`break`) is continued by the next
    one, and `text()` after a partial loop returns the whole turn's text. Once the turn has
    been read to its end, `text()` and `result()` return the outcome again and any other read
    raises `StreamConsumedError`; `events()` (raw entries) cannot be mixed with the others.
    """

    def __init__(
        self,
        store: EntrySource,
        chat_id: str,
        *,
        after: str,
        follow: _Follow,
        stream_timeout: float,
        on_event: Callable[[str], None] | None = None,
        on_turn_complete: Callable[[str], Awaitable[None] | None] | None = None,
        probe: Callable[[int | None], Awaitable[Settled | None]] | None = None,
    ) -> None:
        self._store = store
        self.chat_id = chat_id
        self.after = after
        """The cursor this stream reads after."""
        self.ack: Any = None
        """The `SendAck` of the message this stream follows, when `send_message` made it."""
        self._cursor = after
        self._follow = follow
        self._timeout = stream_timeout
        self._on_event = on_event
        self._on_turn_complete = on_turn_complete
        self._probe = probe
        self._builder = MessageBuilder()
        self._attempts: dict[str, int] = {}
        self._seqs: dict[str, tuple[int, int]] = {}
        """Producer -> (attempt, last seq) of what this reader saw of it."""
        self._from_start = after == "0-0"
        """Whether this reader reads its turn from the start (so must see every producer
        whole): one that sees the turn's start record, and one that reads the whole stream
        (a resent message whose turn's start Redis no longer has). One resuming from a cursor
        inside the turn judges only what it sees."""
        self._lost: str | None = None
        """A producer some of whose records the stream lost (Redis restarted without them)."""
        self._yielded_from: set[str] = set()
        self._started = False
        self._reading: AsyncIterator[Chunk] | None = None
        """The one read of the turn's chunks that every typed reader draws from."""
        self._result: ChatResult | None = None
        self._settled: UIMessage | None = None
        self._raw = False
        self.turn: int | None = follow.turn
        self.status: str | None = None
        self.last_event_id: str | None = None
        self._error_type: str | None = None
        """The class name of a failed turn's typed error (its end record says)."""
        self._error_details: dict[str, Any] | None = None

    @property
    def follows_nothing(self) -> bool:
        """True for `reconnect()` with no turn to follow: the stream is empty."""
        return self._follow.turn == -1

    # -- reading ------------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._read()

    async def text(self) -> str:
        """Read the whole turn and return its text."""
        return (await self.result()).text

    async def result(self) -> ChatResult:
        """Read the whole turn. Raises `TurnFailedError` if it ended with an `error` chunk."""
        if self._result is None:
            async for _ in self._read():
                pass
        assert self._result is not None
        if self._result.status == "failed":
            raise turn_error(
                self._error_type,
                self._builder.error_text or "turn failed",
                turn=self.turn,
                details=self._error_details,
            )
        return self._result

    async def messages(self) -> AsyncIterator[UIMessage]:
        """Yield a snapshot of the growing assistant message after every chunk."""
        async for _ in self._read():
            yield self._builder.snapshot()
        if self._settled is not None:  # finished from the transcript: the whole message
            yield self._builder.snapshot()

    def _read(self) -> AsyncIterator[Chunk]:
        """The turn's chunks from where the last typed reader left off."""
        if self._reading is None:
            self._claim()
            self._reading = self._chunks()
        elif self._result is not None:
            self._claim()  # read to its end: raises
        return self._reading

    def _claim(self) -> None:
        if self._started:
            raise StreamConsumedError(
                f"this ChatStream of chat {self.chat_id!r} was already read; a stream can be"
                " read once (use chat.reconnect() for another reader)"
            )
        self._started = True

    # -- the loop -----------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[Entry]:
        """Yield the raw stream entries of this turn (what the gateway forwards).

        A turn finished from the transcript ends with a synthetic `settled` entry carrying
        the assistant message, so a remote reader can finish the same way. When the stream
        lost records, its `turn-end` is held back: a remote reader ends at `turn-end`, and
        must read on to the `settled` entry instead.
        """
        self._claim()
        self._raw = True  # the reader wants entries: skip typing chunks and folding them
        held: list[Entry] = []  # the turn's end, until it is known whether records were lost
        async for entry, _ in self._turn():
            if self._probe is not None and (entry.kind == TURN_END or _ends_a_turn(entry)):
                held.append(entry)
                if entry.kind == TURN_END and self._lost is None:
                    for end in held:
                        yield end
                    held.clear()
                continue
            yield entry
        if self._settled is not None:
            yield Entry(
                self.last_event_id or self._cursor,
                {
                    "v": VERSION,
                    KIND: SETTLED,
                    "turn": self.turn,
                    "status": self.status,
                    "message": self._settled.model_dump(mode="json", exclude_none=True),
                },
            )

    async def _chunks(self) -> AsyncIterator[Chunk]:
        async for _, chunks in self._turn():
            for chunk in chunks:
                yield chunk

    async def _turn(self) -> AsyncIterator[tuple[Entry, list[Chunk]]]:
        if self._follow.turn == -1:  # reconnect() found no turn to follow
            self.status = "completed"
            self._finish()
            return
        try:
            async for entry in self._entries():
                chunks = self._handle(entry)
                if entry.turn == self.turn and self.turn is not None:
                    yield entry, chunks
                if self.status is not None:
                    break
        finally:
            release = getattr(self._store, "release", None)
            if release is not None:  # an HTTP source holds a connection of its own
                await release()
        if self._lost is not None and self._settled is None and self._probe is not None:
            await self._settle_lost()
        self._finish()
        if self._on_turn_complete is not None and self.last_event_id is not None:
            outcome = self._on_turn_complete(self.last_event_id)
            if outcome is not None:
                await outcome

    async def _entries(self) -> AsyncIterator[Entry]:
        quiet_since = time.monotonic()
        backoff = 0.1
        if await self._maybe_trimmed() and await self._settled_elsewhere():
            return
        question = _Question(self._probe, min(_PROBE_AFTER, self._timeout / 2))
        try:
            while True:
                silent = time.monotonic() - quiet_since
                if silent >= self._timeout:
                    raise StreamTimeoutError(
                        f"no event on chat {self.chat_id!r} for {self._timeout:g}s"
                        f" (after {self._cursor}); the turn may still finish - reconnect() resumes"
                    )
                wait = _PROBE_POLL_MS if question.pending else _POLL_MS
                block = int(min(wait, question.due_in() * 1000, (self._timeout - silent) * 1000))
                block = max(block, 1)
                entries: list[Entry] | None = None  # None: the stream could not be read
                try:
                    # A small first batch: a resume deep in a turn shows its first event sooner.
                    count = 500 if self.last_event_id else 50
                    entries = await self._store.read(
                        self.chat_id, self._cursor, block_ms=block, count=count
                    )
                    backoff = 0.1
                except (RedisError, OSError) as exc:
                    log.warning(
                        "chat %s: stream read failed (%s); resubscribing", self.chat_id, exc
                    )
                    if time.monotonic() - quiet_since + backoff >= self._timeout:
                        raise self._store.unavailable_error(
                            f"lost the stream of chat {self.chat_id!r} and could not"
                            f" resubscribe within {self._timeout:g}s: {type(exc).__name__}: {exc}"
                        ) from exc
                # Heard before the silence may time the stream out, and with what was just read
                # (more of our turn, or a later turn's start).
                answer = question.answer()
                if answer is not None and self._finish_settled(answer, after=entries):
                    return
                if entries is None:
                    # Resubscribe from the last id we saw: nothing is missed, nothing repeated.
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                if not entries:
                    question.ask_if_due(self.turn)
                    continue
                # Only a later turn's entries: ours ended unseen, so the silence goes on and a
                # question asked stands. Anything else (ours, or the turns queued before it) is
                # the chat moving towards or through our turn.
                if self.turn is None or entries[0].turn <= self.turn:
                    quiet_since = time.monotonic()
                    question.heard()
                for entry in entries:
                    self._cursor = entry.id
                    yield entry
        finally:
            question.drop()

    async def _maybe_trimmed(self) -> bool:
        """Whether retention may have trimmed entries after our cursor (a turn read late)."""
        try:
            marker = await self._store.trimmed_before(self.chat_id)
        except (RedisError, OSError):
            return False
        # Retention removed every entry before the marker. A stream that expired while the chat
        # was idle and started afresh has none: its first entries are a later turn's, not a
        # trimmed stream's (told apart by its first entry, a turn that ended before the reader
        # came was taken for trimmed and finished from the transcript, with no chunks).
        return marker is not None and id_tuple(self._cursor) < id_tuple(previous_id(marker))

    async def _settled_elsewhere(self) -> bool:
        """Ask the workflow at once whether our turn ended (retention trimmed it from the
        stream); if so, finish from the transcript."""
        if self._probe is None:
            return False
        settled = await self._probe(self.turn)
        return settled is not None and self._finish_settled(settled, after=None)

    def _finish_settled(self, settled: Settled, *, after: list[Entry] | None) -> bool:
        """Finish from the transcript the workflow answered with, unless `after` (what the
        stream just read after our cursor; None: not looked at) holds more of our turn."""
        # Our turn streamed while the workflow was asked: read on. A later turn's entries
        # prove ours lost its end instead (turns run one after another).
        if after and after[0].turn <= settled[0]:
            return False
        self.turn, message = settled
        log.warning(
            "chat %s: turn %s ended without its end in the stream; finishing from the transcript",
            self.chat_id,
            self.turn,
        )
        self._settle(message)
        return True

    def _settle(self, message: UIMessage) -> None:
        """Finish from the transcript's record of the turn: the stream lost its end."""
        self._settled = message
        self._builder = MessageBuilder(message.id)
        for part in message.parts:
            self._builder.add_part(dict(part))
        self.status = str((message.metadata or {}).get("status", "completed"))
        self._error_type = (message.metadata or {}).get("errorType")

    def _ours(self, entry: Entry) -> bool:
        """Whether the entry belongs to the turn this stream follows (found at its start)."""
        if self.turn is None:
            if self._follow.user_message_id is None:
                self.turn = entry.turn  # a gateway's resume: it sends only the turn's entries
            elif (
                entry.kind == TURN_START
                and entry.envelope.get("userMessageId") == self._follow.user_message_id
            ):
                self.turn = entry.turn
            else:
                return False
        return entry.turn == self.turn

    def _handle(self, entry: Entry) -> list[Chunk]:
        if not self._ours(entry):
            return []
        env = entry.envelope
        kind = entry.kind
        if kind == TURN_START:
            self._from_start = True
        if SEQ in env:
            self._track(env)
        self.last_event_id = entry.id
        if self._on_event is not None:
            self._on_event(entry.id)
        out: list[Chunk] = []
        if kind == CHUNK:
            producer = str(env.get("p", ""))
            attempt = int(env.get("a", 1))
            if attempt < self._attempts.get(producer, 0):
                return out  # a write of a superseded attempt
            self._attempts[producer] = attempt
            self._yielded_from.add(producer)
            if not self._raw:
                out.append(parse_chunk(env[CHUNK_KEY]))
                self._builder.apply_wire(env[CHUNK_KEY], producer)
        elif kind == ATTEMPT_START:
            producer = str(env.get("p", ""))
            self._attempts[producer] = int(env.get("a", 1))
            if producer in self._yielded_from:
                self._builder.reset(producer)
                out.append(ResetStepChunk())
        elif kind == TURN_START:
            self._builder.message_id = str(env.get("messageId", ""))
        elif kind == TURN_END:
            self.status = str(env.get("status", "completed"))
            self._check_marks(env.get(MARKS) or {})
            self._error_type = env.get("errorType")
            budget = env.get("budget")
            self._error_details = budget if isinstance(budget, dict) else None
        elif kind == SETTLED:  # a gateway finished this turn from the transcript
            self._settle(UIMessage.model_validate(env["message"]))
        return out

    async def _settle_lost(self) -> None:
        """What the stream showed is not the whole turn: finish from the transcript."""
        assert self._probe is not None
        settled: Settled | None = None
        with contextlib.suppress(TimeoutError):
            settled = await asyncio.wait_for(self._probe(self.turn), self._timeout)
        if settled is None:
            raise StreamError(
                f"the stream of chat {self.chat_id!r} lost records of turn {self.turn} and the"
                " transcript could not be read; history() or reconnect() has the whole answer"
            )
        self._finish_settled(settled, after=None)

    def _track(self, env: dict[str, Any]) -> None:
        """Note a record's place in its producer's numbering: a jump is a lost record."""
        producer, attempt, seq = str(env.get(PRODUCER, "")), int(env.get(ATTEMPT, 1)), int(env[SEQ])
        seen = self._seqs.get(producer)
        if seen is None:
            expected = 1 if self._from_start else seq
        elif attempt == seen[0]:
            if seq <= seen[1]:
                return
            expected = seen[1] + 1
        elif attempt > seen[0]:
            expected = 1  # a new attempt numbers from 1, right after its attempt-start
        else:
            return  # a superseded attempt's late write
        if seq != expected:
            self._lose(producer)
        self._seqs[producer] = (attempt, seq)

    def _check_marks(self, marks: dict[str, Any]) -> None:
        """Compare what each producer wrote (the turn's end record says) with what was read."""
        for producer, mark in marks.items():
            seq, attempt = int(mark.get("seq", 0)), mark.get("attempt")
            seen = self._seqs.get(producer)
            if seen is None:
                if self._from_start and seq > 0:
                    self._lose(producer)
            elif (attempt is not None and seen[0] < int(attempt)) or seen[1] < seq:
                self._lose(producer)

    def _lose(self, producer: str) -> None:
        if self._lost is None:
            self._lost = producer
            log.warning(
                "chat %s turn %s: the stream lost records of %s; the turn will finish from"
                " the transcript",
                self.chat_id,
                self.turn,
                producer,
            )

    def _finish(self) -> None:
        status = self.status or "completed"
        if status == "failed" and self._builder.error_text is None:
            self._builder.error_text = "turn failed"
        message = self._builder.snapshot()
        metadata = message.metadata or {}
        calls = [
            {
                "toolCallId": p.get("toolCallId"),
                "toolName": p.get("toolName") or p["type"][5:],
                "input": p.get("input"),
            }
            for p in message.parts
            if p.get("type", "").startswith("tool-") or p.get("type") == "dynamic-tool"
        ]
        results = [
            {
                "toolCallId": p.get("toolCallId"),
                "output": p.get("output"),
                "errorText": p.get("errorText"),
            }
            for p in message.parts
            if (p.get("type", "").startswith("tool-") or p.get("type") == "dynamic-tool")
            and p.get("state") in ("output-available", "output-error")
        ]
        self._result = ChatResult(
            text=self._builder.text(),
            message=message,
            finish_reason="error" if status == "failed" else self._builder.finish_reason,
            status=status,
            tool_calls=calls,
            tool_results=results,
            turn=self.turn,
            last_event_id=self.last_event_id,
            usage=TokenUsage.from_wire(metadata.get("usage")),
            chat_usage=TokenUsage.from_wire(metadata.get("chatUsage")),
        )


def previous_id(entry_id: str) -> str:
    """The largest stream id smaller than `entry_id`, to read from an entry inclusively."""
    ms, seq = id_tuple(entry_id)
    if seq > 0:
        return f"{ms}-{seq - 1}"
    return f"{ms - 1}-18446744073709551615" if ms > 0 else "0-0"
