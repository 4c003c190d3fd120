"""A reader tells a stream that lost records from one that is whole (no servers needed)."""

from __future__ import annotations

from typing import Any

import orjson

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
    return [start, opening, *middle, record(1, "turn-end", producer="t1.end", **end)]


async def read(envelopes: list[dict[str, Any]]) -> tuple[str, list[int | None]]:
    asked: list[int | None] = []

    async def probe(turn: int | None) -> Settled | None:
        asked.append(turn)
        return (1, WHOLE)

    stream = ChatStream(
        Entries(envelopes),
        "c",
        after="0-0",
        follow=_Follow(user_message_id="u"),
        stream_timeout=5,
        probe=probe,
    )
    return await stream.text(), asked


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

    def stream_of(envelopes: list[dict[str, Any]]) -> ChatStream:
        return ChatStream(
            Entries(envelopes),
            "c",
            after="0-0",
            follow=_Follow(user_message_id="u"),
            stream_timeout=5,
            probe=probe,
        )

    lossy = stream_of(turn(delta(3, "a "), delta(5, "d")))
    kinds = [entry.kind async for entry in lossy.events()]
    assert kinds[-1] == "settled" and "turn-end" not in kinds
    whole = stream_of(turn(delta(3, "a b c d")))
    kinds = [entry.kind async for entry in whole.events()]
    assert kinds[-1] == "turn-end" and "settled" not in kinds
