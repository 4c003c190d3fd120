"""Inputs, triggers and resources through the gateway, with `AgentChat(base_url=...)`."""

from __future__ import annotations

import pytest

from agentchat.errors import InvalidInputsError, InvalidTriggerError
from tests.gateway.conftest import GatewayServer
from tests.gateway.test_http_transport import http_chat


async def test_inputs_triggers_and_resources_over_http(gateway: GatewayServer) -> None:
    with pytest.raises(InvalidInputsError, match="NAME: Field required"):
        await http_chat(gateway, "keeper").send_message("hi")
    chat = http_chat(gateway, "keeper", inputs={"NAME": "Ada"})
    await (await chat.send_message("remember tea")).text()  # its tool sets FACT
    with pytest.raises(InvalidTriggerError, match=r"input\.LABEL: missing"):
        await chat.trigger("label", {})
    with pytest.raises(InvalidTriggerError, match="no trigger 'nope'"):
        await chat.trigger("nope")
    stream = await chat.trigger("label", {"LABEL": "vip"}, trigger_id="label-1")
    await stream.text()
    assert stream.turn == 2
    assert await chat.resources() == {"FACT": "remember tea", "LABEL": "vip"}
    async with gateway.client() as client:
        answer = await client.get(f"/v1/chats/{chat.id}/resources")
        assert answer.json() == {"resources": {"FACT": "remember tea", "LABEL": "vip"}}
        missing = await client.get("/v1/chats/never-was/resources")
        assert missing.status_code == 404
