"""`AgentChat` through the gateway: the same behaviour as the direct transport, over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from agentchat import AgentChat, Settings
from agentchat.errors import (
    AuthenticationError,
    GatewayUnavailableError,
    PermissionDeniedError,
    UnknownAgentError,
)
from agentchat.gateway import GatewayConfig, create_app
from agentchat.protocol.chunks import TextDeltaChunk
from agentchat.testing.local import free_port
from tests.gateway.conftest import GatewayServer, serve, shutdown

# Nothing listens here: a chat that works proves it went through the gateway.
NO_TEMPORAL = Settings(temporal_address="127.0.0.1:1", redis_url="redis://127.0.0.1:1/0")


def http_chat(gateway: GatewayServer, agent: str = "quick", **kwargs: Any) -> AgentChat:
    kwargs.setdefault("api_key", gateway.api_key)
    return AgentChat(
        agent,
        kwargs.pop("id", None) or f"http-{uuid.uuid4().hex[:10]}",
        base_url=kwargs.pop("base_url", gateway.url),
        settings=NO_TEMPORAL,
        stream_timeout=30,
        **kwargs,
    )


async def assistant_text(chat: AgentChat) -> str:
    history = await chat.history()
    return history[-1].text() if history and history[-1].role == "assistant" else ""


async def test_send_result_history_and_status(gateway: GatewayServer) -> None:
    chat = http_chat(gateway)
    result = await (await chat.send_message("hello")).result()
    assert result.status == "completed" and result.turn == 1
    assert "You said: hello" in result.text
    assert result.text == await assistant_text(chat)
    assert chat.session.last_event_id == result.last_event_id
    status = await chat.status()
    assert status is not None and status.agent == "quick" and status.last_turn == 1
    assert await http_chat(gateway, id="never-used-" + uuid.uuid4().hex[:6]).status() is None


async def test_resend_with_same_message_id_streams_the_original_turn(
    gateway: GatewayServer,
) -> None:
    chat = http_chat(gateway)
    first = await (await chat.send_message("once", message_id="m-1")).result()
    again = await chat.send_message("once", message_id="m-1")
    assert again.ack is not None and again.ack.duplicate
    assert (await again.result()).text == first.text
    assert len(await chat.history()) == 2


async def test_steer_stop_and_reconnect(gateway: GatewayServer) -> None:
    chat = http_chat(gateway, "slow")
    stream = await chat.send_message("tell me a long story")
    head: list[str] = []
    async for chunk in stream:
        if isinstance(chunk, TextDeltaChunk):
            head.append(chunk.delta)
            if len(head) == 3:
                break
    ack = await chat.steer("shorter please")  # joins the running turn at its next step
    assert ack.message_id and ack.injected and ack.turn == 1
    resumed = await chat.reconnect()  # from the last event read: the rest, nothing twice
    assert await chat.stop() == 1
    result = await resumed.result()
    assert result.status == "stopped" and result.turn == 1
    history = await chat.history()
    stopped = next(m for m in history if m.role == "assistant")
    assert "".join(head) + result.text == stopped.text()


async def test_reconnect_with_nothing_running_is_empty(gateway: GatewayServer) -> None:
    chat = http_chat(gateway)
    await (await chat.send_message("hi")).result()
    stream = await chat.reconnect()  # the cursor is the turn's end: nothing left to follow
    assert (await stream.result()).text == ""


async def test_errors_come_back_as_the_same_exceptions(gateway: GatewayServer) -> None:
    with pytest.raises(UnknownAgentError):
        await http_chat(gateway, "no-such-agent").send_message("hi")
    with pytest.raises(AuthenticationError):
        await http_chat(gateway, api_key="wrong").send_message("hi")
    other = gateway.mint_token("someone-else")
    with pytest.raises(PermissionDeniedError):
        await http_chat(gateway, api_key=None, token=other).send_message("hi")
    with pytest.raises(GatewayUnavailableError, match=r"127\.0\.0\.1"):
        await http_chat(gateway, base_url=f"http://127.0.0.1:{free_port()}").send_message("hi")


async def test_chat_token_reads_and_writes_its_chat(gateway: GatewayServer) -> None:
    chat_id = f"tok-{uuid.uuid4().hex[:8]}"
    token = gateway.mint_token(chat_id, agent="quick")
    chat = http_chat(gateway, id=chat_id, api_key=None, token=token)
    assert "You said: hi" in await (await chat.send_message("hi")).text()
    assert len(await chat.history()) == 2


async def test_environment_and_http_client_hooks(
    gateway: GatewayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTCHAT_URL", gateway.url)
    monkeypatch.setenv("AGENTCHAT_API_KEY", gateway.api_key)
    monkeypatch.setenv("AGENTCHAT_TEMPORAL_ADDRESS", "127.0.0.1:1")
    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request)

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as client:
        chat = AgentChat("quick", headers={"X-Trace": "t-1"}, http_client=client)
        assert "You said" in await (await chat.send_message("via env")).text()
    assert seen and all(r.headers["x-trace"] == "t-1" for r in seen)
    assert all(r.headers["authorization"] == f"Bearer {gateway.api_key}" for r in seen)
    assert "api_key" not in repr(Settings())


async def test_stream_moves_to_another_gateway_when_its_own_dies(
    gateway: GatewayServer, settings: Settings
) -> None:
    """A gateway dies mid-turn: the stream resumes on another replica with Last-Event-ID,
    and the text arrives whole, exactly once."""
    config = GatewayConfig(api_keys=(gateway.api_key,), token_secret="s" * 32)
    port = free_port()
    first = await serve(create_app(settings, config), port)
    live = {"url": f"http://127.0.0.1:{port}"}
    requests: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        requests.append(request)

    client = httpx.AsyncClient(event_hooks={"request": [record]})
    chat = http_chat(
        gateway, "slow", base_url=lambda endpoint, chat_id: live["url"], http_client=client
    )
    stream = await chat.send_message("a long answer please")
    text: list[str] = []
    resets = 0
    async for chunk in stream:
        if isinstance(chunk, TextDeltaChunk):
            text.append(chunk.delta)
            if len(text) == 3:
                live["url"] = gateway.url  # the next connection goes to the other replica
                await shutdown(first)
        elif chunk.type == "reset-step":
            resets += 1
    assert stream.status == "completed" and resets == 0
    assert "".join(text) == await assistant_text(chat)
    resumes = [r for r in requests if r.url.path.endswith("/turn")]
    assert resumes and str(resumes[0].url).startswith(gateway.url)
    assert resumes[0].headers["last-event-id"] and resumes[0].url.params["message_id"]
    await client.aclose()
