"""The gateway: events per second one gateway process delivers, and time to resume.

A finished turn of `entries` stream entries is written straight to Redis, then read
through one gateway process (a subprocess, open on loopback) by `readers` concurrent SSE
clients; the baseline is the same number of raw `XREAD` loops on the same stream, in the
same run. Resume is `Last-Event-ID` in the middle of the turn → the first missed event.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Coroutine
from typing import Any

import httpx
import orjson
from httpx_sse import EventSource

from agentchat import AgentChat
from agentchat.connections import get_redis
from agentchat.stream._store import chat_keys
from agentchat.testing.local import free_port
from bench.harness import ROOT, Harness, summary


async def _write_turn(harness: Harness, chat_id: str, entries: int) -> list[str]:
    """A real chat whose (short) turn 1 is then replaced in Redis by `entries` entries."""
    chat = AgentChat("bench", chat_id, settings=harness.settings)
    await (await chat.send_message("tokens=3")).result()
    redis = await get_redis(harness.settings)
    events = chat_keys(chat_id)[0]
    await redis.delete(events)
    base = {"v": 1, "turn": 1, "p": "t1.s1.llm", "a": 1}
    records = [{**base, "seq": 0, "k": "turn-start", "messageId": "m", "userMessageId": "u"}]
    records += [
        {**base, "seq": i, "k": "chunk", "c": {"type": "text-delta", "id": "t", "delta": "word "}}
        for i in range(1, entries - 1)
    ]
    records.append({**base, "seq": entries, "k": "turn-end", "status": "completed"})
    ids: list[str] = []
    for start in range(0, len(records), 1000):
        async with redis.pipeline(transaction=False) as pipe:
            for record in records[start : start + 1000]:
                pipe.xadd(events, {"e": orjson.dumps(record)})
            ids += [i.decode() for i in await pipe.execute()]
    await redis.expire(events, 3600)
    return ids


async def _sse_count(client: httpx.AsyncClient, url: str, after: str) -> int:
    count = 0
    async with client.stream("GET", url, headers={"Last-Event-ID": after}) as response:
        async for sse in EventSource(response).aiter_sse():
            if sse.data:
                count += 1
    return count


async def _xread_count(harness: Harness, chat_id: str, entries: int) -> int:
    redis = await get_redis(harness.settings)
    events, cursor, count = chat_keys(chat_id)[0], "0-0", 0
    while count < entries:
        reply: Any = await redis.xread({events: cursor}, count=500)
        rows = reply[0][1]
        count += len(rows)
        cursor = rows[-1][0]
    return count


async def _first_event_ms(client: httpx.AsyncClient, url: str, after: str) -> float:
    started = time.perf_counter()
    async with client.stream("GET", url, headers={"Last-Event-ID": after}) as response:
        async for sse in EventSource(response).aiter_sse():
            if sse.data:
                return (time.perf_counter() - started) * 1000
    raise RuntimeError("no event after the cursor")


def _start_gateway(harness: Harness, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "agentchat", "gateway", "--port", str(port)],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k != "AGENTCHAT_API_KEYS"},
            "AGENTCHAT_TEMPORAL_ADDRESS": harness.settings.temporal_address,
            "AGENTCHAT_REDIS_URL": harness.settings.redis_url,
            "AGENTCHAT_DATABASE_URL": harness.settings.database_url or "",
            "AGENTCHAT_TASK_QUEUE": harness.settings.task_queue,
        },
        stdout=subprocess.DEVNULL,
    )


async def gateway(harness: Harness, entries: int, readers: int, rounds: int) -> dict[str, Any]:
    port = free_port()
    process = _start_gateway(harness, port)
    chat_id = f"bench-gw-{uuid.uuid4().hex[:8]}"
    url = f"http://127.0.0.1:{port}/v1/chats/{chat_id}/turn?turn=1"
    limits = httpx.Limits(max_connections=readers + 10)
    try:
        ids = await _write_turn(harness, chat_id, entries)
        async with httpx.AsyncClient(timeout=httpx.Timeout(60.0), limits=limits) as client:
            await _until_answering(client, port)
            gateway_rates, redis_rates, resume_ms, xread_ms = [], [], [], []
            for _ in range(rounds):
                rate, counts = await _rate([_sse_count(client, url, "0-0") for _ in range(readers)])
                gateway_rates.append(rate)
                assert all(c == entries for c in counts), f"delivered {counts} of {entries}"
                rate, counts = await _rate(
                    [_xread_count(harness, chat_id, entries) for _ in range(readers)]
                )
                redis_rates.append(rate)
            middle = ids[len(ids) // 2]
            for _ in range(rounds * 10):
                resume_ms.append(await _first_event_ms(client, url, middle))
                started = time.perf_counter()
                redis = await get_redis(harness.settings)
                await redis.xread({chat_keys(chat_id)[0]: middle}, count=1)
                xread_ms.append((time.perf_counter() - started) * 1000)
    finally:
        process.terminate()
        process.wait(30)
    best_gateway, best_redis = max(gateway_rates), max(redis_rates)
    return {
        "entries": entries,
        "readers": readers,
        "gateway_events_per_s": best_gateway,
        "xread_events_per_s": best_redis,
        "ratio": best_gateway / best_redis,
        "resume_ms": summary([m / 1000 for m in resume_ms]),
        "xread_resume_ms": summary([m / 1000 for m in xread_ms]),
    }


# -- WebSocket against SSE ----------------------------------------------------------------------


async def _sse_events(client: httpx.AsyncClient, url: str, after: str, entries: int) -> int:
    """`entries` events of the chat's `/events` stream after the cursor, then hang up."""
    count = 0
    async with client.stream("GET", url, headers={"Last-Event-ID": after}) as response:
        async for sse in EventSource(response).aiter_sse():
            if sse.data:
                count += 1
                if count == entries:
                    break
    return count


async def _ws_events(url: str, entries: int) -> int:
    """`entries` event frames of the chat's WebSocket session, then hang up."""
    from websockets.asyncio.client import connect

    count = 0
    async with connect(url, max_size=None, compression=None) as ws:
        async for raw in ws:
            if orjson.loads(raw)["type"] == "event":
                count += 1
                if count == entries:
                    break
    return count


async def _ws_first_event_ms(url: str) -> float:
    from websockets.asyncio.client import connect

    started = time.perf_counter()
    async with connect(url, max_size=None, compression=None) as ws:
        async for raw in ws:
            if orjson.loads(raw)["type"] == "event":
                elapsed = (time.perf_counter() - started) * 1000
                # Hang up at once: a closing handshake would queue behind the rest of the
                # replay, which this reader no longer reads.
                ws.transport.abort()
                return elapsed
    raise RuntimeError("no event after the cursor")


async def websocket(harness: Harness, entries: int, readers: int, rounds: int) -> dict[str, Any]:
    """WebSocket sessions against SSE `/events` on one gateway process, in the same run:
    `readers` concurrent clients each replaying the chat's `entries` entries, and resume (a
    new connection after the middle entry's id, to its first event)."""
    port = free_port()
    process = _start_gateway(harness, port)
    chat_id = f"bench-ws-{uuid.uuid4().hex[:8]}"
    sse_url = f"http://127.0.0.1:{port}/v1/chats/{chat_id}/events"
    ws_url = f"ws://127.0.0.1:{port}/v1/chats/{chat_id}/ws"
    limits = httpx.Limits(max_connections=readers + 10)
    try:
        ids = await _write_turn(harness, chat_id, entries)
        middle = ids[len(ids) // 2]
        async with httpx.AsyncClient(timeout=httpx.Timeout(60.0), limits=limits) as client:
            await _until_answering(client, port)
            sse_rates, ws_rates, sse_ms, ws_ms = [], [], [], []
            for _ in range(rounds):
                rate, counts = await _rate(
                    [_sse_events(client, sse_url, "0-0", entries) for _ in range(readers)]
                )
                sse_rates.append(rate)
                assert all(c == entries for c in counts), f"SSE delivered {counts} of {entries}"
                rate, counts = await _rate(
                    [_ws_events(f"{ws_url}?last_event_id=0-0", entries) for _ in range(readers)]
                )
                ws_rates.append(rate)
                assert all(c == entries for c in counts), f"WS delivered {counts} of {entries}"
            for _ in range(rounds * 10):
                started = time.perf_counter()
                await _sse_events(client, sse_url, middle, 1)
                sse_ms.append((time.perf_counter() - started) * 1000)
                ws_ms.append(await _ws_first_event_ms(f"{ws_url}?last_event_id={middle}"))
    finally:
        process.terminate()
        process.wait(30)
    best_sse, best_ws = max(sse_rates), max(ws_rates)
    sse_resume, ws_resume = summary([m / 1000 for m in sse_ms]), summary([m / 1000 for m in ws_ms])
    return {
        "entries": entries,
        "readers": readers,
        "sse_events_per_s": best_sse,
        "ws_events_per_s": best_ws,
        "ratio": best_ws / best_sse,
        "sse_resume_ms": sse_resume,
        "ws_resume_ms": ws_resume,
        "resume_ratio": ws_resume["p50_ms"] / sse_resume["p50_ms"],
    }


async def _until_answering(client: httpx.AsyncClient, port: int) -> None:
    """Wait (up to ~10 s) for a just-started gateway to answer HTTP."""
    for _ in range(100):
        try:
            await client.get(f"http://127.0.0.1:{port}/openapi.json")
            return
        except httpx.TransportError:
            await asyncio.sleep(0.1)


async def _rate(readers: list[Coroutine[Any, Any, int]]) -> tuple[float, list[int]]:
    """Run the readers at once: entries delivered per second in all, and each one's count."""
    started = time.perf_counter()
    counts = list(await asyncio.gather(*readers))
    return sum(counts) / (time.perf_counter() - started), counts
