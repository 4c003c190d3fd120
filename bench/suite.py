"""The benchmarks beyond latency: throughput, concurrency, long chats, idle chats, recovery.

Each measures agentchat and, where one exists, its baseline in the same run. The model server
(a separate process) answers `tokens=N rate=R` with N stamped tokens at R per second, so the
model's own cost is known exactly and every token carries its emission time.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from agentchat import AgentChat
from agentchat.connections import get_redis, get_temporal
from agentchat.errors import TemporalUnavailableError
from agentchat.protocol.chunks import TextDeltaChunk
from agentchat.stream import ChatStream
from agentchat.stream._store import chat_keys
from bench.harness import (
    IDLE_TTL,
    Harness,
    cpu_seconds,
    direct_client,
    pct,
    rss_bytes,
    summary,
)

SEND_BUDGET = 180.0
"""Seconds a concurrency benchmark keeps resending a message the stack did not accept, and
waits on a silent stream (a chat queued behind admission has not started yet)."""


def _stamps(text: str, received: float) -> list[float]:
    """Delivery delays (s) of the stamped tokens `w<i>@<µs>` in a delta."""
    delays = []
    for token in text.split():
        _, _, stamp = token.partition("@")
        if stamp.isdigit():
            delays.append(received - int(stamp) / 1e6)
    return delays


async def _direct_rate(harness: Harness, tokens: int) -> float:
    client = direct_client(harness.model_url)
    count, last = 0, 0.0
    first = time.perf_counter()
    stream = await client.chat.completions.create(
        model="direct", messages=[{"role": "user", "content": f"tokens={tokens}"}], stream=True
    )
    async for event in stream:
        if event.choices and event.choices[0].delta.content:
            count += len(event.choices[0].delta.content.split())
            last = time.perf_counter()
    await client.close()
    return count / (last - first)


async def _chat_rate(harness: Harness, tokens: int) -> float:
    chat = AgentChat(agent="bench", settings=harness.settings)
    count, last = 0, 0.0
    first = time.perf_counter()
    async for chunk in await chat.send_message(f"tokens={tokens}"):
        if isinstance(chunk, TextDeltaChunk):
            count += len(chunk.delta.split())
            last = time.perf_counter()
    assert count == tokens, f"delivered {count} of {tokens} tokens"
    return count / (last - first)


async def throughput(harness: Harness, tokens: int, rounds: int) -> dict[str, Any]:
    """One chat, `tokens` tokens as fast as the model server sends them (request to last
    token, so the time to first token is included for both)."""
    direct, chat = [], []
    for _ in range(rounds):
        direct.append(await _direct_rate(harness, tokens))
        chat.append(await _chat_rate(harness, tokens))
    best_direct, best_chat = max(direct), max(chat)
    return {
        "tokens": tokens,
        "direct_tokens_per_s": best_direct,
        "agentchat_tokens_per_s": best_chat,
        "ratio": best_chat / best_direct,
    }


async def concurrency(
    harness: Harness, chats: int, tokens: int, rate: float, starts_per_s: float | None = None
) -> dict[str, Any]:
    """`chats` chats, each `tokens` tokens at `rate`/s, on one worker process.

    All at once by default (a thundering herd); with `starts_per_s` the messages are sent at
    that rate, as traffic arrives in practice, so the row shows streaming at the peak
    concurrency reached rather than the queue of chat starts.
    """
    pid = harness.worker.pid
    cpu_before = cpu_seconds(pid)
    delays: list[float] = []
    first_tokens: list[float] = []
    spans: list[tuple[float, float]] = []
    prefix = uuid.uuid4().hex[:6]

    resent = 0

    async def send(chat: AgentChat, i: int) -> ChatStream:
        # An overloaded stack accepts late: do what the error says (resend with the same
        # message id, which runs no second turn) for up to `SEND_BUDGET` seconds, and count it.
        nonlocal resent
        give_up = time.monotonic() + SEND_BUDGET
        while True:
            try:
                return await chat.send_message(
                    f"tokens={tokens} rate={rate}", message_id=f"m{prefix}-{i}"
                )
            except TemporalUnavailableError:
                if time.monotonic() > give_up:
                    raise
                resent += 1

    async def one(i: int) -> int:
        if starts_per_s:
            await asyncio.sleep(i / starts_per_s)
        chat = AgentChat(
            agent="bench",
            id=f"c{prefix}-{i}",
            settings=harness.settings,
            stream_timeout=SEND_BUDGET,
        )
        sent = time.perf_counter()
        stream = await send(chat, i)
        first = last = 0.0
        async for chunk in stream:
            if isinstance(chunk, TextDeltaChunk):
                now = time.time()
                last = time.perf_counter()
                first = first or last
                delays.extend(_stamps(chunk.delta, now))
        if first:
            first_tokens.append(first - sent)
            spans.append((first, last))
        # Counted on the final text: a step retried after a stall resets what it had sent.
        return len((await stream.result()).text.split())

    started = time.perf_counter()
    outcomes = await asyncio.gather(*(one(i) for i in range(chats)), return_exceptions=True)
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu_before
    delivered = sum(o for o in outcomes if isinstance(o, int))
    complete = sum(1 for o in outcomes if o == tokens)
    errors = sorted(
        {f"{type(o).__name__}: {o}"[:160] for o in outcomes if isinstance(o, Exception)}
    )
    return {
        "chats": chats,
        "starts_per_s": starts_per_s,
        "peak_streaming": _peak(spans),
        "completed_pct": 100.0 * complete / chats,
        "resent": resent,
        "delay": summary(delays),
        "first_token": summary(first_tokens),
        "worker_cpu_s_per_1k_tokens": 1000 * cpu / max(delivered, 1),
        "elapsed_s": elapsed,
        "errors": errors[:3],
    }


async def settle(harness: Harness, quiet_cpu: float = 0.05, limit: float = 120.0) -> None:
    """Wait until the worker is idle (what a benchmark left running has finished)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_seconds(harness.worker.pid)
        await asyncio.sleep(1.0)
        if cpu_seconds(harness.worker.pid) - before < quiet_cpu:
            return


def _peak(spans: list[tuple[float, float]]) -> int:
    """The most chats streaming at one moment, from each one's first and last token."""
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    peak = current = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


async def _direct_ttft(harness: Harness, messages: list[dict[str, Any]]) -> float:
    client = direct_client(harness.model_url)
    started = time.perf_counter()
    # The conversation goes in `extra_body`, as the worker sends it: the SDK's own walk over a
    # long `messages` list costs more than the model server's reply (125 ms at 1,000
    # messages), which would flatter agentchat rather than measure it.
    stream = await client.chat.completions.create(
        model="direct", messages=[], stream=True, extra_body={"messages": messages}
    )
    first = 0.0
    async for event in stream:
        if not first and event.choices and event.choices[0].delta.content:
            first = time.perf_counter() - started
    await client.close()
    return first


async def long_conversation(harness: Harness, turns: int) -> dict[str, Any]:
    """Latency of turn 1 ... `turns` in one chat, against the direct SDK sending the same
    conversation (a longer prompt costs the model server too); history growth per turn."""
    from agentchat.models import to_chat_messages

    chat = AgentChat(agent="bench", settings=harness.settings)
    client = await get_temporal(harness.settings)
    ttft: list[float] = []
    added: dict[int, float] = {}
    history: list[tuple[int, int, int]] = []
    marks = sorted({1, 10, max(1, turns // 5), turns})
    for turn in range(1, turns + 1):
        text = f"turn {turn} tokens=20"
        started = time.perf_counter()
        first = None
        async for chunk in await chat.send_message(text):
            if first is None and chunk.type == "text-delta":
                first = time.perf_counter() - started
        assert first is not None
        ttft.append(first)
        if turn in marks:
            # The same conversation sent straight to the model: what is left is ours.
            past = to_chat_messages(None, (await chat.history())[:-2])
            messages = [*past, {"role": "user", "content": text}]
            direct = sorted([await _direct_ttft(harness, messages) for _ in range(3)])[1]
            mine = sorted(ttft[-5:])[len(ttft[-5:]) // 2]
            added[turn] = (mine - direct) * 1000
        if turn in (1, 10) or turn % 50 == 0:
            info = await client.get_workflow_handle(chat.workflow_id).describe()
            raw = info.raw_description.workflow_execution_info
            history.append((turn, raw.history_length, raw.history_size_bytes))
    base = added[marks[1] if len(marks) > 1 else marks[0]]
    return {
        "turns": turns,
        "added_ms_at": {str(t): v for t, v in added.items()},
        "added_ratio_last_to_turn_10": added[turns] / base if base > 0 else 0.0,
        "ttft_ms": [round(v * 1000, 2) for v in ttft],
        "history": [{"turn": t, "events": e, "bytes": b} for t, e, b in history],
    }


async def idle_chats(harness: Harness, chats: int, parallel: int = 40) -> dict[str, Any]:
    """Open `chats` chats with one short turn each, then measure what idle ones cost."""
    redis = await get_redis(harness.settings)
    ids: list[str] = []
    limit = asyncio.Semaphore(parallel)

    async def open_chat() -> None:
        async with limit:
            # New chats, as an app opens them: AgentChat picks the id, so no earlier run of
            # it is looked for (a caller-chosen id costs a visibility query per new chat).
            chat = AgentChat(agent="bench", settings=harness.settings)
            await (await chat.send_message("tokens=5")).text()
            ids.append(chat.id)

    started = time.perf_counter()
    await asyncio.gather(*(open_chat() for _ in range(chats)))
    opened_in = time.perf_counter() - started
    sample = ids[:: max(1, chats // 200)]

    async def redis_bytes() -> float:
        per_chat = []
        for chat_id in sample:
            total = 0
            for key in chat_keys(chat_id):
                total += int(await redis.memory_usage(key) or 0)
            per_chat.append(total)
        return sum(per_chat) / len(per_chat)

    just_ended = await redis_bytes()
    worker_rss = rss_bytes(harness.worker.pid)
    # Wait out the idle TTL (the bench configures it short) for the last chat opened, with 3 s
    # to spare: every chat's keys are gone, as they are for any chat idle that long.
    await asyncio.sleep(max(0.0, IDLE_TTL + 3 - (time.perf_counter() - started - opened_in)))
    idle = await redis_bytes()

    async def ttft(chat_id: str) -> float:
        chat = AgentChat(agent="bench", id=chat_id, settings=harness.settings)
        started = time.perf_counter()
        async for chunk in await chat.send_message("tokens=5"):
            if chunk.type == "text-delta":
                return time.perf_counter() - started
        raise AssertionError("no token")

    warm = [await ttft(ids[-1 - i]) for i in range(5)]
    # A fresh worker process holds no chat in its cache: every workflow is replayed.
    harness.stop_worker()
    harness.start_worker()
    await ttft(ids[0])  # the first one also waits for the new worker to come up
    cold = [await ttft(ids[1 + i]) for i in range(5)]
    return {
        "chats": chats,
        "opened_per_s": chats / opened_in,
        "redis_bytes_per_chat_turn_just_ended": just_ended,
        "redis_bytes_per_idle_chat": idle,
        "idle_ttl_s": IDLE_TTL,
        "worker_rss_mb": worker_rss / 2**20,
        "warm_ttft": summary(warm),
        "cold_ttft": summary(cold),
        "cold_to_warm": pct(cold, 0.5) / pct(warm, 0.5),
    }


async def recovery(harness: Harness, rounds: int) -> dict[str, Any]:
    """reconnect() to the first missed chunk, and a SIGKILLed worker to the stream moving."""
    resumes, crashes = [], []
    for _ in range(rounds):
        chat = AgentChat(agent="bench", settings=harness.settings)
        stream = await chat.send_message("tokens=200 rate=100")
        async for chunk in stream:
            if chunk.type == "text-delta":
                break
        await asyncio.sleep(0.2)  # chunks pile up unread
        started = time.perf_counter()
        async for _chunk in await chat.reconnect():
            resumes.append(time.perf_counter() - started)
            break
    for _ in range(max(1, (rounds + 1) // 2)):
        chat = AgentChat(agent="bench", settings=harness.settings)
        stream = await chat.send_message("tokens=400 rate=50")
        killed_at = 0.0
        async for chunk in stream:
            if chunk.type == "text-delta" and not killed_at:
                harness.kill_worker()
                killed_at = time.perf_counter()
                harness.start_worker()
            elif killed_at and chunk.type == "reset-step":  # the retried attempt writes
                crashes.append(time.perf_counter() - killed_at)
                break
    return {
        "reconnect_to_first_chunk": summary(resumes),
        "crash_to_stream_moving": summary(crashes),
    }
