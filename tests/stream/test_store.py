"""The fenced Lua append against a real Redis: fencing, dedup, attempt-start, retention."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from typing import Any

import orjson
import pytest

from agentchat.errors import InvalidCursorError
from agentchat.stream._store import Retention, StreamStore, StreamWriter, chat_keys, check_cursor


def env(seq: int, text: str = "x", turn: int = 1) -> tuple[int, bytes]:
    return seq, orjson.dumps(
        {
            "v": 1,
            "k": "chunk",
            "turn": turn,
            "seq": seq,
            "c": {"type": "text-delta", "id": "t", "delta": text},
        }
    )


@pytest.fixture
def chat_id() -> str:
    return f"store-{uuid.uuid4().hex[:8]}"


async def run_turns(store: StreamStore, chat_id: str, turns: Iterable[int]) -> None:
    """Write a start and an end record for each turn, as a finished turn leaves them."""
    for turn in turns:
        for role in ("start", "end"):
            await store.append(
                chat_id,
                producer=f"t{turn}.{role}",
                attempt=1,
                turn=turn,
                role=role,
                batch=[env(1, turn=turn)],
            )


async def kinds(store: StreamStore, chat_id: str) -> list[str]:
    entries = await store.read(chat_id, "0-0", block_ms=1)
    return [e.kind for e in entries]


async def test_repeated_sequence_numbers_are_skipped(store: StreamStore, chat_id: str) -> None:
    status, first, _ = await store.append(
        chat_id, producer="p", attempt=1, turn=1, role="step", batch=[env(1), env(2)]
    )
    assert status == "OK" and first
    # A network retry of the same batch, plus one new entry.
    await store.append(
        chat_id, producer="p", attempt=1, turn=1, role="step", batch=[env(1), env(2), env(3)]
    )
    entries = await store.read(chat_id, "0-0", block_ms=1)
    assert [e.envelope["seq"] for e in entries] == [1, 2, 3]


async def test_a_newer_attempt_fences_the_older_one(store: StreamStore, chat_id: str) -> None:
    await store.append(chat_id, producer="p", attempt=1, turn=1, role="step", batch=[env(1, "old")])
    status, _, _ = await store.append(
        chat_id, producer="p", attempt=2, turn=1, role="step", batch=[env(1, "new")]
    )
    assert status == "OK"
    zombie, _, _ = await store.append(
        chat_id, producer="p", attempt=1, turn=1, role="step", batch=[env(2, "late")]
    )
    assert zombie == "FENCED"
    entries = await store.read(chat_id, "0-0", block_ms=1)
    assert [e.kind for e in entries] == ["chunk", "attempt-start", "chunk"]
    assert entries[1].envelope == {
        "v": 1,
        "k": "attempt-start",
        "turn": 1,
        "p": "p",
        "a": 2,
        "supersedes": 1,
    }
    # Another producer is independent.
    other, _, _ = await store.append(
        chat_id, producer="q", attempt=1, turn=1, role="step", batch=[env(1)]
    )
    assert other == "OK"


async def test_turn_end_closes_the_turn_and_marks_it(store: StreamStore, chat_id: str) -> None:
    await store.append(
        chat_id, producer="t1.start", attempt=1, turn=1, role="start", batch=[env(1)]
    )
    assert await store.active_turn(chat_id) == (1, (await store.first_id(chat_id)))
    assert await store.request_stop(chat_id) == 1
    _, _, stop = await store.append(
        chat_id, producer="t1.s1.llm", attempt=1, turn=1, role="step", batch=[]
    )
    assert stop
    status, _, _ = await store.append(
        chat_id, producer="t1.end", attempt=1, turn=1, role="end", batch=[env(1)]
    )
    assert status == "OK"
    assert await store.active_turn(chat_id) == (None, None)
    again, _, _ = await store.append(
        chat_id, producer="t1.end", attempt=2, turn=1, role="end", batch=[env(1)]
    )
    assert again == "ENDED"
    late, _, _ = await store.append(
        chat_id, producer="t1.s1.llm", attempt=1, turn=1, role="step", batch=[env(2)]
    )
    assert late == "FENCED"
    assert await store.request_stop(chat_id) is None
    assert len(await kinds(store, chat_id)) == 2


async def test_retention_keeps_the_last_turns_and_sets_a_ttl(redis, chat_id: str) -> None:  # type: ignore[no-untyped-def]
    store = StreamStore(redis, Retention(keep_turns=2, ttl_seconds=600, idle_ttl_seconds=60))
    await run_turns(store, chat_id, range(1, 6))
    entries = await store.read(chat_id, "0-0", block_ms=1)
    assert {e.turn for e in entries} == {4, 5}
    events, meta, _ = chat_keys(chat_id)
    # Idle after its turn ended: the chat's keys go soon (the transcript is in the workflow).
    assert 0 < await redis.ttl(events) <= 60 and 0 < await redis.ttl(meta) <= 60
    await store.append(
        chat_id, producer="t6.start", attempt=1, turn=6, role="start", batch=[env(1, turn=6)]
    )
    assert await redis.ttl(events) > 60  # a running turn keeps the long TTL
    assert await store.turn_start(chat_id, 2) is None  # forgotten with its turn


async def test_writer_batches_and_merges_deltas(store: StreamStore, chat_id: str) -> None:
    writer = StreamWriter(store, chat_id, producer="p", attempt=1, turn=1)
    writer.chunk({"type": "text-start", "id": "t"})
    for word in ("a", "b", "c"):
        writer.chunk({"type": "text-delta", "id": "t", "delta": word})
    writer.control("input", kind="steer", messageId="s", state="injected")
    writer.chunk({"type": "text-delta", "id": "t", "delta": "d"})
    assert await writer.flush()
    entries = await store.read(chat_id, "0-0", block_ms=1)
    assert [e.envelope.get("c", {}).get("delta") for e in entries] == [None, "abc", None, "d"]
    assert entries[2].envelope["kind"] == "steer"
    assert writer.last_id == entries[-1].id


async def deltas_after(store: StreamStore, chat_id: str, cursor: str) -> list[Any]:
    """Block until the stream holds a text delta after `cursor`; every entry's delta (or None)."""
    seen = []
    while True:
        entries = await store.read(chat_id, cursor, block_ms=1000)
        seen += [e.envelope.get("c", {}).get("delta") for e in entries]
        cursor = entries[-1].id if entries else cursor
        if any(seen):
            return seen


@pytest.mark.parametrize("opening", ["turn", "steer"])
@pytest.mark.parametrize("token", ["during the opening's append", "after the opening's append"])
async def test_the_first_token_goes_out_at_once_after_the_opening(
    store: StreamStore, chat_id: str, monkeypatch: pytest.MonkeyPatch, opening: str, token: str
) -> None:
    """A step writes its opening (the turn's `start`, or a steer it injects, then `start-step`)
    the moment it begins, and the model's first token follows at once or after a short think.
    The opening append must not start the coalescing interval: the first token once held for
    all of it (20 ms by default, a minute here), the rest of the answer still does."""
    in_flight, release, returned = asyncio.Event(), asyncio.Event(), asyncio.Event()
    append = store.append

    async def first_append_held(*args: Any, **kwargs: Any) -> tuple[str, str, bool]:
        if in_flight.is_set():
            return await append(*args, **kwargs)
        in_flight.set()
        await release.wait()
        reply = await append(*args, **kwargs)
        returned.set()
        return reply

    monkeypatch.setattr(store, "append", first_append_held)
    writer = StreamWriter(
        store, chat_id, producer="t1.s1.llm", attempt=1, turn=1, flush_interval=60, stop_poll=60
    )
    if opening == "turn":
        writer.open_turn("a1", "u1", "submit-message")
    else:
        writer.control("input", kind="steer", messageId="s1", state="injected")
        writer.chunk({"type": "data-steer", "id": "s1", "data": {"text": "hi", "messageId": "s1"}})
    writer.chunk({"type": "start-step"})
    writer.start()
    try:
        await asyncio.wait_for(in_flight.wait(), 10)  # the opening goes out at once
        if token == "after the opening's append":
            release.set()
            await asyncio.wait_for(returned.wait(), 10)
        writer.chunk({"type": "text-start", "id": "t"})
        writer.chunk({"type": "text-delta", "id": "t", "delta": "Hel"})
        release.set()
        seen = await asyncio.wait_for(deltas_after(store, chat_id, "0-0"), 10)
        assert seen[-1] == "Hel"
        cursor = await store.last_id(chat_id)
        writer.chunk({"type": "text-delta", "id": "t", "delta": "lo"})
        writer.chunk({"type": "text-delta", "id": "t", "delta": " world"})
        await asyncio.sleep(0.3)
        assert not await store.has_after(chat_id, cursor)  # coalescing for the interval
    finally:
        await writer.close()
    assert await deltas_after(store, chat_id, cursor) == ["lo world"]


def test_cursors_are_checked() -> None:
    assert check_cursor("1766399999123-0") == "1766399999123-0"
    assert check_cursor(f"{2**64 - 1}-{2**64 - 1}") == f"{2**64 - 1}-{2**64 - 1}"
    for bad in ("", "abc", "12", "1-2-3", "$", "-1-0", f"{2**64}-0", "1-0\n", "\u0661-0"):
        with pytest.raises(InvalidCursorError, match="invalid cursor"):
            check_cursor(bad)


def test_every_key_of_a_chat_shares_one_hash_slot() -> None:
    from redis.crc import key_slot

    keys = chat_keys("review-42")
    assert len({key_slot(k.encode()) for k in keys}) == 1


async def test_a_stream_ahead_of_its_conversation_starts_afresh(
    store: StreamStore, chat_id: str
) -> None:
    """If the workflow lost its history (retention) while Redis kept the chat's keys, turn 1
    must not be fenced by the old `ended` mark: the stream restarts."""
    await run_turns(store, chat_id, (1, 2))
    status, _, _ = await store.append(
        chat_id,
        producer="t1.start",
        attempt=1,
        turn=1,
        role="start",
        batch=[env(1, "fresh", turn=1)],
    )
    assert status == "OK"
    entries = await store.read(chat_id, "0-0", block_ms=1)
    assert [e.envelope["c"]["delta"] for e in entries] == ["fresh"]
    step, _, _ = await store.append(
        chat_id, producer="t1.s1.llm", attempt=1, turn=1, role="step", batch=[env(1)]
    )
    assert step == "OK"
