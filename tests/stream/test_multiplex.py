"""Batched appends: many chats' flushes share one script call, and one chat's failure is its own."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from agentchat.stream._multiplex import AppendBatcher, ReadMux
from agentchat.stream._store import StreamStore, chat_keys


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
        number = len(self.calls)
        await asyncio.sleep(0)  # a round trip: later submissions queue meanwhile
        if number == self.fail_on:
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


async def test_a_second_call_goes_out_while_the_first_waits_but_no_third() -> None:
    release = asyncio.Event()
    out: list[list[str]] = []

    async def slow(keys: list[str], args: list[Any]) -> list[list[Any]]:
        out.append(keys)
        await release.wait()
        return [["OK", key, 0] for key in keys]

    batcher = AppendBatcher(slow, max_in_flight=2)
    first = asyncio.ensure_future(batcher.submit(("a",), [], 1))
    await asyncio.sleep(0.01)
    second = asyncio.ensure_future(batcher.submit(("b",), [], 1))
    await asyncio.sleep(0.01)
    assert out == [["a"], ["b"]]  # b did not wait for a's reply
    rest = [asyncio.ensure_future(batcher.submit((k,), [], 1)) for k in "cd"]
    await asyncio.sleep(0.01)
    assert out == [["a"], ["b"]]  # two calls out: c and d queue for the next one
    release.set()
    replies = await asyncio.gather(first, second, *rest)
    assert [r[1] for r in replies] == ["a", "b", "c", "d"]
    assert out[2:] == [["c", "d"]]


async def test_an_append_right_after_both_calls_return_still_goes_out() -> None:
    # Both senders finish in one loop turn; a writer woken by the first reply appends again
    # at once, before the finished senders are forgotten: its group must still be sent.
    release = asyncio.Event()

    async def slow(keys: list[str], args: list[Any]) -> list[list[Any]]:
        await release.wait()
        return [["OK", key, 0] for key in keys]

    batcher = AppendBatcher(slow, max_in_flight=2)

    async def twice() -> Any:
        await batcher.submit(("a",), [], 1)
        return await batcher.submit(("c",), [], 1)  # in the same step as a's reply

    first = asyncio.ensure_future(twice())
    await asyncio.sleep(0.01)
    second = asyncio.ensure_future(batcher.submit(("b",), [], 1))
    await asyncio.sleep(0.01)
    release.set()
    assert (await asyncio.wait_for(first, 2))[1] == "c" and (await second)[1] == "b"


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


# -- the shared reader ------------------------------------------------------------------------


async def xread_calls(redis: Redis) -> int:
    stats: Any = await redis.info("commandstats")
    return int(stats.get("cmdstat_xread", {}).get("calls", 0))


async def blocked_xreads(redis: Redis) -> int:
    clients: Any = await redis.client_list()
    return sum(1 for c in clients if c.get("cmd") == "xread" and "b" in c.get("flags", ""))


async def append_one(store: StreamStore, chat: str, seq: int) -> str:
    _, last_id, _ = await store.append(
        chat, producer="p", attempt=1, turn=1, role="step", batch=[env(seq, chat)]
    )
    return last_id


async def test_blocked_readers_of_many_chats_share_one_xread(
    store: StreamStore, redis: Redis
) -> None:
    chats = [f"mux-r-{uuid.uuid4().hex[:8]}" for _ in range(40)]
    cursors = [await append_one(store, chat, 1) for chat in chats]
    before = await xread_calls(redis)
    readers = [
        asyncio.ensure_future(store.read(chat, cursor, block_ms=5000))
        for chat, cursor in zip(chats, cursors, strict=True)
    ]
    await asyncio.sleep(0.2)  # all blocked
    written = await asyncio.gather(*(append_one(store, chat, 2) for chat in chats))
    got = await asyncio.wait_for(asyncio.gather(*readers), 5)
    assert [[e.id for e in entries] for entries in got] == [[i] for i in written]
    calls = await xread_calls(redis) - before
    assert calls < 20, f"{calls} XREAD calls for {len(chats)} readers"


async def test_a_reader_arriving_while_the_xread_blocks_is_served_at_once(
    store: StreamStore,
) -> None:
    quiet, busy = f"mux-q-{uuid.uuid4().hex[:8]}", f"mux-b-{uuid.uuid4().hex[:8]}"
    waiting = asyncio.ensure_future(store.read(quiet, "0-0", block_ms=10_000))
    await asyncio.sleep(0.2)  # the shared XREAD now blocks on `quiet` alone
    entry_id = await append_one(store, busy, 1)
    started = asyncio.get_running_loop().time()
    got = await asyncio.wait_for(store.read(busy, "0-0", block_ms=10_000), 5)
    assert [e.id for e in got] == [entry_id]
    assert asyncio.get_running_loop().time() - started < 2  # not the other reader's 10 s
    assert not waiting.done()
    quiet_id = await append_one(store, quiet, 1)
    assert [e.id for e in await asyncio.wait_for(waiting, 5)] == [quiet_id]


async def test_readers_of_one_chat_at_different_cursors_get_their_own_entries(
    store: StreamStore,
) -> None:
    chat = f"mux-c-{uuid.uuid4().hex[:8]}"
    first = await append_one(store, chat, 1)
    second = await append_one(store, chat, 2)
    behind = asyncio.ensure_future(store.read(chat, "0-0", block_ms=5000))
    ahead = asyncio.ensure_future(store.read(chat, second, block_ms=5000))
    assert [e.id for e in await asyncio.wait_for(behind, 5)] == [first, second]
    await asyncio.sleep(0.1)
    assert not ahead.done()  # nothing after its cursor yet
    third = await append_one(store, chat, 3)
    assert [e.id for e in await asyncio.wait_for(ahead, 5)] == [third]


async def test_a_cancelled_or_timed_out_reader_leaves_the_others_reading(
    store: StreamStore,
) -> None:
    gone, timed, kept = (f"mux-x-{uuid.uuid4().hex[:8]}" for _ in range(3))
    cancelled = asyncio.ensure_future(store.read(gone, "0-0", block_ms=5000))
    short = asyncio.ensure_future(store.read(timed, "0-0", block_ms=300))
    reader = asyncio.ensure_future(store.read(kept, "0-0", block_ms=5000))
    await asyncio.sleep(0.1)
    cancelled.cancel()
    assert await asyncio.wait_for(short, 3) == []  # its own block time, not the others'
    kept_id = await append_one(store, kept, 1)
    assert [e.id for e in await asyncio.wait_for(reader, 5)] == [kept_id]
    assert cancelled.cancelled()


async def test_a_dropped_connection_fails_the_waiting_readers_and_the_next_read_works(
    store: StreamStore, redis: Redis
) -> None:
    chat = f"mux-d-{uuid.uuid4().hex[:8]}"
    reader = asyncio.ensure_future(store.read(chat, "0-0", block_ms=10_000))
    await asyncio.sleep(0.2)
    clients: Any = await redis.client_list()
    blocked = [c for c in clients if c.get("cmd") == "xread" and "b" in c.get("flags", "")]
    assert blocked
    for client in blocked:
        await redis.client_kill_filter(_id=client["id"])
    with pytest.raises((ConnectionError, OSError, RedisError)):
        await asyncio.wait_for(reader, 5)  # ChatStream resubscribes from its cursor on this
    entry_id = await append_one(store, chat, 1)
    got = await asyncio.wait_for(store.read(chat, "0-0", block_ms=5000), 5)
    assert [e.id for e in got] == [entry_id]


async def test_stores_over_one_client_share_one_blocked_connection(redis: Redis) -> None:
    # AgentChat makes a store per chat: the readers of every chat still share one XREAD.
    stores = [StreamStore(redis) for _ in range(20)]
    chats = [f"mux-s-{uuid.uuid4().hex[:8]}" for _ in stores]
    before = await blocked_xreads(redis)
    readers = [
        asyncio.ensure_future(store.read(chat, "0-0", block_ms=5000))
        for store, chat in zip(stores, chats, strict=True)
    ]
    await asyncio.sleep(0.3)
    assert await blocked_xreads(redis) - before == 1
    ids = [await append_one(stores[0], chat, 1) for chat in chats]
    got = await asyncio.wait_for(asyncio.gather(*readers), 5)
    assert [[e.id for e in entries] for entries in got] == [[i] for i in ids]


async def test_a_reader_behind_the_xread_in_flight_gets_no_gap(
    store: StreamStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The XREAD in flight reads the chat from its newest entry; a reader that then arrives
    # from the start must get every entry, not only what that XREAD returns.
    monkeypatch.setattr(ReadMux, "UNBLOCK_AFTER", 2.0)  # the append wakes the XREAD first
    chat = f"mux-g-{uuid.uuid4().hex[:8]}"
    first = await append_one(store, chat, 1)
    tail = asyncio.ensure_future(store.read(chat, first, block_ms=10_000))
    await asyncio.sleep(0.2)
    tail.cancel()  # its XREAD stays in flight at `first` until unblocked
    with pytest.raises(asyncio.CancelledError):
        await tail
    replay = asyncio.ensure_future(store.read(chat, "0-0", block_ms=10_000))
    second = await append_one(store, chat, 2)
    got = await asyncio.wait_for(replay, 5)
    assert [e.id for e in got] == [first, second]


async def test_a_reply_later_than_its_block_fails_the_readers_not_empties_them(
    store: StreamStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A late reply means a dead connection: readers must get an error (they resubscribe,
    # perhaps to a failed-over master), not an empty read on a desynchronized socket.
    from agentchat import multiplex

    chat = f"mux-l-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(multiplex, "_SOCKET_MARGIN", -0.4)  # replies count as 0.4 s late
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(store.read(chat, "0-0", block_ms=500), 5)
    monkeypatch.setattr(multiplex, "_SOCKET_MARGIN", 10.0)
    entry_id = await append_one(store, chat, 1)
    got = await asyncio.wait_for(store.read(chat, "0-0", block_ms=5000), 5)
    assert [e.id for e in got] == [entry_id]  # a fresh connection, in step again
