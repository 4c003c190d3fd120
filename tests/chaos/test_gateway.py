"""A gateway replica SIGKILLed while readers read through it: `AgentChat` over HTTP and a
browser-like `EventSource` reader resume on the other replica with their last event id."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from httpx_sse import aconnect_sse

from agentchat import AgentChat
from agentchat.protocol.messages import UIMessage
from agentchat.stream import ChatStream
from tests.chaos.harness import (
    AlsoRead,
    Plan,
    Reading,
    Report,
    Scenario,
    Script,
    Silence,
    pick,
    timeout_for,
)
from tests.chaos.services import ChaosStack, GatewayPool, WorkerPool
from tests.conftest import GATEWAY_KEY

WORKERS = 2
REPLICAS = 2
BOUNDED = Plan(chats=4, turns=4, faults=2, every=(2.0, 4.0))
FULL = Plan(chats=8, turns=15, faults=10, every=(2.0, 4.0), words=100, budget=600)


class Fold:
    """What a browser's page makes of the native SSE envelopes of one turn."""

    def __init__(self, reading: Reading) -> None:
        self.reading = reading
        self.texts: dict[str, list[str]] = {}
        self.attempts: dict[str, int] = {}
        self.settled: str | None = None

    def apply(self, envelope: dict[str, Any]) -> bool:
        """Fold one envelope in; True once the turn has ended."""
        kind = envelope.get("k")
        producer = str(envelope.get("p", ""))
        attempt = int(envelope.get("a", 1))
        if kind == "chunk" and attempt >= self.attempts.get(producer, 0):
            self.attempts[producer] = attempt
            chunk = envelope.get("c") or {}
            if chunk.get("type") == "text-delta":
                self.texts.setdefault(producer, []).append(str(chunk.get("delta", "")))
        elif kind == "attempt-start":
            self.attempts[producer] = attempt
            self.texts[producer] = []  # the superseded attempt's words go
            self.reading.resets += 1
        elif kind == "settled":  # the stream lost the turn's end: the transcript's answer
            self.settled = UIMessage.model_validate(envelope["message"]).text()
            self.reading.settled = True
            self.reading.status = str(envelope.get("status") or "completed")
        elif kind == "turn-end":
            self.reading.status = str(envelope.get("status") or "completed")
        elif kind == "error":
            self.reading.error = f"{envelope.get('type')}: {envelope.get('message')}"
            return True
        return self.reading.status is not None

    def text(self) -> str:
        if self.settled is not None:
            return self.settled
        return "".join("".join(words) for words in self.texts.values())


def sse_reader(gateways: GatewayPool, client: httpx.AsyncClient, within: float) -> AlsoRead:
    """A second reader per turn, as a browser's `EventSource` reads: `GET .../turn` on the
    chat's other replica, and after a drop, `retry` ms later, again with `Last-Event-ID`."""

    async def read(
        scenario: Scenario, key: str, turn: int, message_id: str, sent: ChatStream, began: float
    ) -> None:
        reading = scenario.reading(key, turn, "sse")
        fold = Fold(reading)
        silence = Silence(began)
        cursor, retry = sent.after, 2.0
        try:
            while reading.status is None and reading.error is None:
                if time.monotonic() - began > within:
                    reading.error = f"no end of the turn within {within:g} s"
                    break
                url = gateways.balancer.url(sent.chat_id, shift=1)
                headers = {"Authorization": f"Bearer {GATEWAY_KEY}", "Last-Event-ID": cursor}
                try:
                    async with aconnect_sse(
                        client,
                        "GET",
                        f"{url}/v1/chats/{sent.chat_id}/turn",
                        params={"message_id": message_id},
                        headers=headers,
                    ) as source:
                        if source.response.status_code != 200:
                            reading.error = f"HTTP {source.response.status_code} from {url}"
                            break
                        async for sse in source.aiter_sse():
                            retry = sse.retry / 1000 if sse.retry else retry
                            if not sse.data:
                                continue
                            silence.tick()
                            cursor = sse.id or cursor
                            if fold.apply(orjson.loads(sse.data)):
                                break
                except (httpx.HTTPError, OSError):
                    pass
                if reading.status is None and reading.error is None:
                    reading.resumes += 1
                    await asyncio.sleep(retry)
            if reading.status is not None:
                reading.text = fold.text()
        finally:
            silence.tick()
            reading.silence = silence.longest

    return read


@pytest.mark.timeout(timeout_for(BOUNDED, FULL))
async def test_gateway_replica_sigkilled_while_readers_read_through_it(
    chaos_stack: ChaosStack,
    workers: WorkerPool,
    gateways: GatewayPool,
    scripted: Callable[[Plan], Script],
    chaos_rng: tuple[random.Random, int],
    record_report: Callable[[Report], None],
) -> None:
    """Each turn has two readers through two replicas; killing either replica leaves both
    readers with the whole answer, read once."""
    plan = pick(BOUNDED, FULL)
    script = scripted(plan)
    await asyncio.gather(
        workers.start_ready(WORKERS), *(gateways.start_ready() for _ in range(REPLICAS))
    )
    rng, seed = chaos_rng

    async def kill_a_replica() -> None:
        await gateways.kill_one(rng)

    run = uuid.uuid4().hex[:8]
    resumed: list[str] = []

    async def note_resume(request: httpx.Request) -> None:
        if request.url.path.endswith("/turn"):  # AgentChat reopening its turn's stream
            resumed.append(request.headers.get("last-event-id", ""))

    timeout = httpx.Timeout(30.0)
    async with (
        httpx.AsyncClient(timeout=timeout, event_hooks={"request": [note_resume]}) as client,
        httpx.AsyncClient(timeout=timeout) as browser,
    ):
        chats = {
            f"c{i:02d}": AgentChat(
                "chaos",
                f"chaos-gateway-{run}-{i}",
                base_url=gateways.balancer,
                api_key=GATEWAY_KEY,
                http_client=client,
                stream_timeout=plan.stream_timeout,
            )
            for i in range(plan.chats)
        }
        also = sse_reader(gateways, browser, plan.stream_timeout)
        scenario = Scenario("gateway", plan, script, chats, kill_a_replica, rng, seed, also)
        report = await scenario.run()
    report.counters["AgentChat resumes"] = len(resumed)
    assert all(resumed), "AgentChat resumed without its last event id"
    record_report(report)
    report.check()
