"""`/readyz` and the chat store: a store that does not answer makes the gateway unready, named
by its URL without the password; a gateway without a store refuses to start."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from agentchat import Settings
from agentchat.errors import ConfigurationError
from agentchat.gateway import GatewayConfig, create_app
from agentchat.gateway.serve import GatewayServer
from agentchat.testing.local import free_port


async def readyz(settings: Settings) -> httpx.Response:
    app = create_app(settings, GatewayConfig(api_keys=("k",)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        return await client.get("/readyz")


async def test_readyz_reports_the_chat_store(settings: Settings) -> None:
    ready = await readyz(settings)
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ready",
        "checks": {"gateway": "ok", "redis": "ok", "temporal": "ok", "chat_store": "ok"},
    }

    url = f"postgresql://agentchat:s3cret-pw@127.0.0.1:{free_port()}/chats"
    down = await readyz(dataclasses.replace(settings, database_url=url))
    assert down.status_code == 503
    body = down.json()
    assert body["checks"] == {
        "gateway": "ok",
        "redis": "ok",
        "temporal": "ok",
        "chat_store": "unreachable",
    }
    assert body["chat_store"].startswith("chat store at postgresql://agentchat:***@127.0.0.1:")
    assert "s3cret" not in down.text

    none = await readyz(dataclasses.replace(settings, database_url=None))
    assert none.status_code == 503 and none.json()["checks"]["chat_store"] == "unconfigured"
    assert "AGENTCHAT_DATABASE_URL" in none.json()["chat_store"]


async def test_a_gateway_without_a_chat_store_refuses_to_start(settings: Settings) -> None:
    server = GatewayServer(
        dataclasses.replace(settings, database_url=None),
        GatewayConfig(api_keys=("k",)),
        port=free_port(),
    )
    with pytest.raises(ConfigurationError, match="AGENTCHAT_DATABASE_URL"):
        await server.start()
    bad = GatewayServer(
        dataclasses.replace(settings, database_url="mysql://u:pw@127.0.0.1/x"),
        GatewayConfig(api_keys=("k",)),
        port=free_port(),
    )
    with pytest.raises(ConfigurationError, match="AGENTCHAT_DATABASE_URL") as raised:
        await bad.start()
    assert "pw@" not in str(raised.value)
