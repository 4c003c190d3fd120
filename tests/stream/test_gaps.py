"""A reader tells a stream that lost records from one that is whole (no servers needed)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest

from agentchat.errors import StreamError
from agentchat.protocol.messages import UIMessage
from agentchat.stream._reader import ChatStream, Settled, _Follow
from agentchat.stream._store import Entry

WHOLE = UIMessage(
    id="m", role="assistant", parts=[{"type": "text", "text": "a b c d", "state": "done"}]
)


class Entries:
    """An entry source that hands out a fixed list of entries once."""

    def __init__(self, envelopes: list[dict[str, Any]]) -> None:
        self.entries = [
            Entry(f"{i + 1}-0", env, orjson.dumps(env)) for i, env in enumerate(envelopes)
        ]

    @property
    def unavailable_error(self) -> type[Exception]:
        return OSError

    async def read(
        self, chat_id: str, after: str, *, block_ms: int, count: int = 500
    ) -> list[Entry]:
        done = int(after.split("-")[0])
        return self.entries[done : done + count]

    async def trimmed_before(self, chat_id: str) -> str | None:
        return None


def record(seq: int, kind: str, producer: str = "t1.s1.llm", **fields: Any) -> dict[str, Any]:
    return {"v": 1, "turn": 1, "p": producer, "a": 1, "seq": seq, "k": kind, **fields}


def delta(seq: int, text: str) -> dict[str, Any]:
    return record(seq, "chunk", c={"type": "text-delta", "id": "t", "delta": text})


def turn(*middle: dict[str, Any], marks: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    start = record(1, "turn-start", messageId="m", userMessageId="u", trigger="submit-message")
    opening = record(2, "chunk", c={"type": "text-start", "id": "t"})
    end: dict[str, Any] = {"status": "completed"}
    if marks is not None:
        end["marks"] = marks
    finish = record(1, "chunk", producer="t1.end", c={"type": "finish"})
    return [start, opening, *middle, finish, record(2, "turn-end", producer="t1.end", **end)]


Probe = Callable[[int | None], Awaitable[Settled | None]]


def stream_of(
    envelopes: list[dict[str, Any]],
    probe: Probe,
    *,
    after: str = "0-0",
    follow: _Follow | None = None,
) -> ChatStream:
    return ChatStream(
        Entries(envelopes),
        "c",
        after=after,
        follow=follow or _Follow(user_message_id="u"),
        stream_timeout=5,
        probe=probe,
    )


async def read(envelopes: list[dict[str, Any]]) -> tuple[str, list[int | None]]:
    asked: list[int | None] = []

    async def probe(turn: int | None) -> Settled | None:
        asked.append(turn)
        return (1, WHOLE)

    return await stream_of(envelopes, probe).text(), asked


async def test_a_whole_stream_is_read_as_it_is() -> None:
    marks = {"t1.s1.llm": {"seq": 4, "attempt": 1}}
    text, asked = await read(turn(delta(3, "a b "), delta(4, "c d"), marks=marks))
    assert (text, asked) == ("a b c d", [])


async def test_a_jump_in_a_producer_s_numbers_finishes_from_the_transcript() -> None:
    text, asked = await read(turn(delta(3, "a "), delta(5, "d")))
    assert (text, asked) == ("a b c d", [1])


async def test_a_lost_tail_is_told_by_the_end_record_s_marks() -> None:
    marks = {"t1.s1.llm": {"seq": 5, "attempt": 1}}
    text, asked = await read(turn(delta(3, "a "), delta(4, "b "), marks=marks))
    assert (text, asked) == ("a b c d", [1])


async def test_a_producer_never_seen_is_a_loss_for_a_reader_from_the_start() -> None:
    marks = {"t1.s1.llm": {"seq": 3}, "t1.s1.tool.c1": {"seq": 1, "attempt": 1}}
    text, asked = await read(turn(delta(3, "a b c d"), marks=marks))
    assert (text, asked) == ("a b c d", [1])


async def test_a_newer_attempt_numbers_from_one() -> None:
    retried = {"v": 1, "turn": 1, "k": "attempt-start", "p": "t1.s1.llm", "a": 2}
    again = record(1, "chunk", c={"type": "text-start", "id": "t"}) | {"a": 2}
    rest = delta(2, "a b c d") | {"a": 2}
    marks = {"t1.s1.llm": {"seq": 2, "attempt": 2}}
    text, asked = await read(turn(delta(3, "x"), retried, again, rest, marks=marks))
    assert (text, asked) == ("a b c d", [])


async def test_the_gateway_forwards_settled_instead_of_the_end_of_a_stream_with_losses() -> None:
    async def probe(turn: int | None) -> Settled | None:
        return (1, WHOLE)

    def kinds(entries: list[Entry]) -> list[str]:
        return [e.envelope["c"]["type"] if e.kind == "chunk" else e.kind for e in entries]

    lossy = stream_of(turn(delta(3, "a "), delta(5, "d")), probe)
    forwarded = kinds([entry async for entry in lossy.events()])
    # The lossy stream's own finish and end are not passed on: 'settled' ends the turn.
    assert forwarded == ["turn-start", "text-start", "text-delta", "text-delta", "settled"]
    whole = stream_of(turn(delta(3, "a b c d")), probe)
    forwarded = kinds([entry async for entry in whole.events()])
    assert forwarded == ["turn-start", "text-start", "text-delta", "finish", "turn-end"]


async def test_a_loss_with_no_transcript_to_be_had_is_an_error_not_a_short_answer() -> None:
    async def probe(turn: int | None) -> Settled | None:
        return None

    stream = stream_of(turn(delta(3, "a "), delta(5, "d")), probe)
    with pytest.raises(StreamError, match="lost records of turn 1"):
        await stream.text()


async def test_a_reader_that_joined_mid_turn_judges_only_what_it_could_see() -> None:
    marks = {"t1.s1.llm": {"seq": 5, "attempt": 1}, "t1.s1.tool.c0": {"seq": 2, "attempt": 1}}
    envelopes = turn(delta(3, "a "), delta(4, "b "), delta(5, "c d"), marks=marks)
    asked: list[int | None] = []

    async def probe(turn: int | None) -> Settled | None:
        asked.append(turn)
        return (1, WHOLE)

    # A resume after the turn's first three records (no turn-start): a producer it did not
    # see from its first record is no loss, nor is the end's mark of records before it.
    stream = stream_of(envelopes, probe, after="3-0", follow=_Follow(turn=1))
    assert await stream.text() == "b c d"
    assert asked == []


async def test_messages_ends_with_the_transcript_s_message_after_a_loss() -> None:
    async def probe(turn: int | None) -> Settled | None:
        return (1, WHOLE)

    stream = stream_of(turn(delta(3, "a "), delta(5, "d")), probe)
    snapshots = [m async for m in stream.messages()]
    assert snapshots[-1].text() == "a b c d"


async def test_a_reader_of_a_message_s_turn_misses_nothing_even_without_its_start() -> None:
    # Redis restarted empty: the turn's start and first records are gone, and a reader sent
    # after (a resend of the same message) finds the turn by its number, reading the whole
    # stream since its start record cannot be found.
    envelopes = turn(delta(3, "a "), delta(4, "b "), delta(5, "c d"))[3:]
    asked: list[int | None] = []

    async def probe(turn: int | None) -> Settled | None:
        asked.append(turn)
        return (1, WHOLE)

    stream = stream_of(envelopes, probe, follow=_Follow(user_message_id="u", turn=1))
    assert await stream.text() == "a b c d"
    assert asked == [1]


async def test_a_reader_of_a_message_s_turn_resumed_mid_turn_judges_only_what_it_sees() -> None:
    envelopes = turn(delta(3, "a "), delta(4, "b "), delta(5, "c d"))
    asked: list[int | None] = []

    async def probe(turn: int | None) -> Settled | None:
        asked.append(turn)
        return (1, WHOLE)

    follow = _Follow(user_message_id="u", turn=1)
    stream = stream_of(envelopes, probe, after="4-0", follow=follow)
    assert await stream.text() == "c d"
    assert asked == []
