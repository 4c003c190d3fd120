"""The shared Temporal connect survives callers that give up on it."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator

import pytest

from agentchat import Settings
from agentchat.connections import get_temporal
from agentchat.errors import TemporalUnavailableError


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A TCP server that accepts connections and never answers: a Temporal that hangs."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"127.0.0.1:{port}"
    server.close()
    for writer in held:
        writer.close()


async def test_a_cancelled_caller_does_not_wedge_the_shared_connect(silent_server: str) -> None:
    settings = Settings(temporal_address=silent_server, connect_timeout=1.0)
    first = asyncio.create_task(get_temporal(settings))
    await asyncio.sleep(0.2)
    first.cancel()  # a readiness probe timing out, say
    with pytest.raises(asyncio.CancelledError):
        await first
    with pytest.raises(TemporalUnavailableError, match="cannot reach Temporal"):
        await asyncio.wait_for(get_temporal(settings), 10)
    # And the failure is not cached: the next call tries again.
    with pytest.raises(TemporalUnavailableError):
        await asyncio.wait_for(get_temporal(settings), 10)


async def test_a_bad_tracing_setting_is_not_cached(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentchat.errors import ConfigurationError

    # A target no earlier test connected to, so nothing cached answers for it.
    settings = dataclasses.replace(settings, temporal_namespace=f"ns-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("AGENTCHAT_TRACING", "jaeger")
    with pytest.raises(ConfigurationError):
        await get_temporal(settings)
    monkeypatch.delenv("AGENTCHAT_TRACING")
    client = await asyncio.wait_for(get_temporal(settings), 10)
    assert client.namespace == settings.temporal_namespace
