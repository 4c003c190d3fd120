"""Batched appends: many chats' flushes share one script call, and one chat's failure is its own."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from agentchat.multiplex import AppendBatcher
from agentchat.stream_store import StreamStore, chat_keys


def env(seq: int, text: str) -> tuple[int, bytes]:
    chunk = {"type": "text-delta", "id": "t", "delta": text}
    return seq, orjson.dumps({"v": 1, "k": "chunk", "turn": 1, "seq": seq, "c": chunk})


async def script_calls(redis: Redis) -> int:
    stats: Any = await redis.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{n}", {}).get("calls", 0)) for n in ("evalsha", "eval"))


async def test_concurrent_appends_of_many_chats_share_script_calls(
    store: StreamStore, redis: Redis
) -> None:
    chats = [f"mux-{uuid.uuid4().hex[:8]}" for _ in range(60)]
    await store.append(chats[0], producer="p", attempt=1, turn=1, role="step", batch=[env(1, "w")])
    before = await script_calls(redis)
    replies = await asyncio.gather(
        *(
            store.append(chat, producer="p", attempt=1, turn=1, role="step", batch=[env(2, chat)])
            for chat in chats
        )
    )
    calls = await script_calls(redis) - before
    assert calls < 10, f"{calls} script calls for {len(chats)} chats"
    for chat, (status, last_id, stop) in zip(chats, replies, strict=True):
        assert (status, stop) == ("OK", False)
        entries = await store.read(chat, "0-0", block_ms=1)
        assert entries[-1].id == last_id  # each chat got its own entry id back
        assert entries[-1].envelope["c"]["delta"] == chat


async def test_one_chats_failure_leaves_the_others_written(
    store: StreamStore, redis: Redis
) -> None:
    good = [f"mux-ok-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    bad = f"mux-bad-{uuid.uuid4().hex[:8]}"
    await redis.set(chat_keys(bad)[1], "not a hash")  # HGET on it fails with WRONGTYPE
    outcomes = await asyncio.gather(
        *(
            store.append(chat, producer="p", attempt=1, turn=1, role="step", batch=[env(1, chat)])
            for chat in [good[0], bad, *good[1:]]
        ),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], ResponseError)
    assert bad in str(outcomes[1]) and "WRONGTYPE" in str(outcomes[1])
    for chat, outcome in zip(good, [outcomes[0], *outcomes[2:]], strict=True):
        assert not isinstance(outcome, BaseException) and outcome[0] == "OK"
        assert [e.envelope["c"]["delta"] for e in await store.read(chat, "0-0", block_ms=1)] == [
            chat
        ]


class Recorder:
    """A stand-in script call that records each call's groups (pure batching logic)."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail_on = fail_on

    async def __call__(self, keys: list[str], args: list[Any]) -> list[list[Any]]:
        self.calls.append(keys)
        await asyncio.sleep(0)  # a round trip: later submissions queue meanwhile
        if self.fail_on is not None and len(self.calls) == self.fail_on:
            raise ConnectionError("redis went away")
        return [["OK", key, 0] for key in keys]


async def test_a_lone_append_goes_out_alone_and_queued_ones_in_batches() -> None:
    call = Recorder()
    batcher = AppendBatcher(call, max_groups=4)
    assert (await batcher.submit(("alone",), [], 10))[1] == "alone"
    assert call.calls == [["alone"]]
    call.calls.clear()
    replies = await asyncio.gather(*(batcher.submit((f"k{i}",), [], 10) for i in range(10)))
    assert [r[1] for r in replies] == [f"k{i}" for i in range(10)]
    assert [len(keys) for keys in call.calls] == [4, 4, 2]


async def test_a_large_group_is_not_held_with_others_past_max_bytes() -> None:
    call = Recorder()
    batcher = AppendBatcher(call, max_bytes=100)
    sizes = [10, 95, 10, 10, 500]
    await asyncio.gather(*(batcher.submit((f"k{i}",), [], n) for i, n in enumerate(sizes)))
    assert call.calls == [["k0"], ["k1"], ["k2", "k3"], ["k4"]]


async def test_a_failed_call_fails_only_its_own_groups() -> None:
    call = Recorder(fail_on=1)
    batcher = AppendBatcher(call, max_groups=2)
    outcomes = await asyncio.gather(
        *(batcher.submit((f"k{i}",), [], 1) for i in range(4)), return_exceptions=True
    )
    kinds = [type(o).__name__ for o in outcomes]
    assert kinds == ["ConnectionError", "ConnectionError", "list", "list"]


async def test_a_cancelled_append_does_not_hold_up_the_rest() -> None:
    call = Recorder()
    batcher = AppendBatcher(call)
    gone = asyncio.ensure_future(batcher.submit(("gone",), [], 1))
    kept = asyncio.ensure_future(batcher.submit(("kept",), [], 1))
    gone.cancel()
    assert (await kept)[1] == "kept"
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert call.calls == [["kept"]]
