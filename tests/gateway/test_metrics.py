"""The gateway's `GET /metrics`: open to scrapers, and counting the SSE responses it has open."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.gateway.conftest import GatewayServer


async def active_streams(client: httpx.AsyncClient, api: str) -> float:
    response = await client.get("/metrics")
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "agentchat_active_streams" and sample.labels == {"api": api}:
                return sample.value
    return 0.0


async def settles_at(client: httpx.AsyncClient, api: str, expected: float) -> float:
    """The gauge once it reached `expected` (a closed response drops it a moment later)."""
    for _ in range(100):
        current = await active_streams(client, api)
        if current == expected:
            break
        await asyncio.sleep(0.05)
    return current


async def test_metrics_need_no_credentials_and_stay_out_of_the_schema(
    gateway: GatewayServer,
) -> None:
    async with gateway.client(credential="") as anonymous:
        response = await anonymous.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=")
        assert "# TYPE agentchat_active_streams gauge" in response.text
        assert "agentchat_stream_write_batches_total" in response.text
    async with gateway.client() as client:
        schema = (await client.get("/openapi.json")).json()
        assert "/metrics" not in schema["paths"]


async def test_an_open_native_stream_counts_until_the_client_leaves(
    gateway: GatewayServer,
) -> None:
    chat_id = f"m-{uuid.uuid4().hex[:10]}"
    body = {"agent": "slow", "message": "take your time"}
    async with gateway.client() as client:
        before = await active_streams(client, "native")
        async with client.stream("POST", f"/v1/chats/{chat_id}/messages", json=body) as sse:
            assert sse.status_code == 200
            lines = sse.aiter_lines()
            async for line in lines:
                if '"text-delta"' in line:
                    break
            assert await active_streams(client, "native") == before + 1
        # The client went away mid-turn: the response notices and the gauge drops.
        assert await settles_at(client, "native", before) == before
        await client.post(f"/v1/chats/{chat_id}/stop")


async def test_an_ai_sdk_stream_counts_while_it_runs(gateway: GatewayServer) -> None:
    chat_id = f"m-{uuid.uuid4().hex[:10]}"
    message = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hello"}]}
    body = {"id": chat_id, "agent": "quick", "messages": [message]}
    async with gateway.client() as client:
        before = await active_streams(client, "aisdk")
        async with client.stream("POST", "/api/chat", json=body) as sse:
            assert sse.status_code == 200
            first = True
            async for line in sse.aiter_lines():
                if first and line.startswith("data:"):
                    first = False
                    assert await active_streams(client, "aisdk") == before + 1
                if line == "data: [DONE]":
                    break
        assert not first
        # The turn ran to its end: the response finished and the gauge is back.
        assert await settles_at(client, "aisdk", before) == before
