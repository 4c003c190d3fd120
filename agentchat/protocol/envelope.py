"""The stream envelope: what each entry of a chat's Redis Stream holds, and each SSE event.

Every entry is one JSON object `{"v": 1, "k": <kind>, ...}`. The gateway forwards entries as
they are stored, so these keys and kinds are read by the Python readers, the gateway, the HTTP
client, `static/js/` and third-party SSE clients: they are only ever added to. `append.lua`
writes the `attempt-start` record itself (Lua cannot import this module);
`tests/protocol/test_envelope.py` checks it against these names.

Keys written with every record by `StreamWriter`: `turn` (the turn number), `p` (the
producer, e.g. `t3.s1.llm`), `a` (its attempt). A `chunk` record carries the AI SDK chunk
verbatim under `c`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ACCEPTED",
    "ATTEMPT",
    "ATTEMPT_START",
    "CHUNK",
    "CHUNK_KEY",
    "ERROR",
    "INPUT",
    "KIND",
    "MARKS",
    "PRODUCER",
    "RESYNC",
    "SEQ",
    "SETTLED",
    "THREAD",
    "TURN",
    "TURN_END",
    "TURN_START",
    "VERSION",
    "envelope",
    "kind_of",
    "step_producer",
    "tool_producer",
    "workflow_producer",
]

VERSION = 1
"""`v`: the envelope's version; a reader meeting a higher one knows its fields may differ."""

KIND = "k"
CHUNK_KEY = "c"
TURN = "turn"
PRODUCER = "p"
ATTEMPT = "a"
THREAD = "thread"
"""On the records of a named thread's step (see `agentchat.triggers.StartThread`): its name."""

# Record kinds written to the stream.
CHUNK = "chunk"
"""An AI SDK UI message stream chunk, under `c`."""
TURN_START = "turn-start"
"""A turn began: `messageId`, `userMessageId`, `trigger`."""
TURN_END = "turn-end"
"""A turn ended: `status`, `finishReason`, `error`, and `marks` (see `MARKS`)."""
MARKS = "marks"
"""In a `turn-end` record: producer -> `{"seq": last seq, "attempt": n}` for every producer of
the turn, from the workflow's record of what each wrote. A reader that read less of one (or saw
its sequence numbers jump) knows the stream lost entries and finishes from the transcript."""
SEQ = "seq"
"""Each record's number within its producer's attempt: 1, 2, 3, ... with no gaps."""
ATTEMPT_START = "attempt-start"
"""A retried producer began again: readers drop what its earlier attempts wrote."""
INPUT = "input"
"""A message's fate in the chat (a steer injected, queued, ...): `kind`, `messageId`, `state`."""

# Kinds the gateway and the stream reader add, never stored in Redis.
SETTLED = "settled"
"""A turn finished from the transcript (its entries were trimmed): carries `message`."""
ACCEPTED = "accepted"
"""The gateway took a message: the `SendAck` fields, first event of a POST's stream."""
RESYNC = "resync"
"""The cursor was older than the stream retains: `first` is the oldest entry still there."""
ERROR = "error"
"""The gateway's stream failed: `type` (an `agentchat.errors` class name) and `message`."""


def step_producer(turn: int, step: int) -> str:
    """The producer name of a turn's LLM step (its records, and its mark in `turn-end`)."""
    return f"t{turn}.s{step}.llm"


def tool_producer(turn: int, step: int, call_id: str) -> str:
    """The producer name of a tool call's activity."""
    return f"t{turn}.s{step}.tool.{call_id}"


def workflow_producer(turn: int, step: int, call_id: str, what: str) -> str:
    """The producer name of a record the workflow publishes about a call (`what` happened)."""
    return f"t{turn}.s{step}.wf.{call_id}.{what}"


def envelope(kind: str, **fields: Any) -> dict[str, Any]:
    """A record of `kind` with `fields`, in the current envelope version."""
    return {"v": VERSION, KIND: kind, **fields}


def kind_of(record: dict[str, Any]) -> str:
    """The record's kind ('' when it has none)."""
    return str(record.get(KIND, ""))
