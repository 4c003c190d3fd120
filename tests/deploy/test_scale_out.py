"""Two workers and two gateways share one stack; losing one of each mid-turn loses nothing."""

from __future__ import annotations

import asyncio
import uuid
import zlib
from collections.abc import Callable

import httpx

from agentchat import AgentChat, Settings
from agentchat.protocol.chunks import TextDeltaChunk
from agentchat.stream import ChatStream
from tests.conftest import GATEWAY_KEY, GatewayProcess, WorkerProcess

CHATS = 12


class Balancer:
    """Spreads chats over the gateways still in rotation, like a load balancer whose health
    check has just taken a dead replica out."""

    def __init__(self, gateways: list[GatewayProcess]) -> None:
        self.live = list(gateways)

    def __call__(self, endpoint: str, chat_id: str) -> str:
        return self.live[zlib.crc32(chat_id.encode()) % len(self.live)].url


async def read_turn(stream: ChatStream, started: asyncio.Event) -> tuple[str, int]:
    """The turn's text as a client sees it (dropping superseded attempts), and its resets."""
    text: list[str] = []
    resets = 0
    async for chunk in stream:
        if isinstance(chunk, TextDeltaChunk):
            text.append(chunk.delta)
            if len(text) == 3:
                started.set()
        elif chunk.type == "reset-step":
            resets += 1
            text.clear()  # the slow agent answers in one step: a reset restarts the text
    return "".join(text), resets


async def test_losing_a_worker_and_a_gateway_mid_turn_loses_no_turn_and_no_word(
    settings: Settings,
    worker_process: Callable[..., WorkerProcess],
    gateway_process: Callable[..., GatewayProcess],
) -> None:
    workers = [worker_process(env={"SLOW_RATE": "15"}) for _ in range(2)]
    gateways = [gateway_process() for _ in range(2)]
    await asyncio.gather(*(w.wait_ready() for w in workers), *(g.wait_ready() for g in gateways))
    balancer = Balancer(gateways)
    resumes: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        if request.url.path.endswith("/turn"):
            resumes.append(request)

    client = httpx.AsyncClient(event_hooks={"request": [record]}, timeout=30)
    chats = [
        AgentChat(
            "slow",
            f"scale-{i}-{uuid.uuid4().hex[:8]}",
            base_url=balancer,
            api_key=GATEWAY_KEY,
            http_client=client,
        )
        for i in range(CHATS)
    ]
    on_doomed = [chat for chat in chats if balancer(".", chat.id) == gateways[0].url]
    assert 0 < len(on_doomed) < CHATS

    streams = await asyncio.gather(*(chat.send_message("a long answer please") for chat in chats))
    started = [asyncio.Event() for _ in chats]
    readers = [
        asyncio.create_task(read_turn(stream, event))
        for stream, event in zip(streams, started, strict=True)
    ]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in started)), 60)

    # Mid-turn, with every chat streaming: one worker and one gateway die without warning.
    workers[0].kill()
    gateways[0].kill()
    balancer.live.remove(gateways[0])

    results = await asyncio.wait_for(asyncio.gather(*readers), 120)
    for chat, stream, (text, _) in zip(chats, streams, results, strict=True):
        assert stream.status == "completed", chat.id
        history = await chat.history()
        assert [m.role for m in history] == ["user", "assistant"], chat.id
        assert text == history[-1].text(), f"{chat.id}: the client's text differs"
        assert len(text) > 200, chat.id
    # Both deaths were felt: some turns moved worker, and every stream the dead gateway
    # carried resumed on the other one from its last event id.
    assert sum(resets for _, resets in results) > 0
    resumed = {r.url.path.split("/")[3] for r in resumes if str(r.url).startswith(gateways[1].url)}
    assert {chat.id for chat in on_doomed} <= resumed
    assert all(r.headers.get("last-event-id") for r in resumes)

    # The survivors keep serving the same chats.
    follow = await asyncio.gather(*(chat.send_message("thanks") for chat in chats[:4]))
    for stream in follow:
        assert (await stream.result()).status == "completed"
    await client.aclose()
