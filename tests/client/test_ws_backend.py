"""`AgentChat(..., transport="ws")`: the Python client over the gateway's WebSocket session,
end to end against a real gateway, worker, Temporal and Redis."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from agentchat import AgentChat, Settings
from agentchat.client._ws import WebSocketBackend
from agentchat.errors import AuthenticationError, NotPendingError
from agentchat.protocol.chunks import (
    TextDeltaChunk,
    ToolApprovalRequestChunk,
    ToolInputAvailableChunk,
)
from tests.gateway.conftest import API_KEY
from tests.gateway.test_ws import StartGateway, WsGateway, start_gateway

__all__ = ["start_gateway"]  # the fixture, shared with the gateway's tests


@pytest.fixture
async def gw(start_gateway: StartGateway) -> WsGateway:
    return await start_gateway()


def ws_chat(gw: WsGateway | Any, agent: str, **kwargs: Any) -> AgentChat:
    kwargs.setdefault("api_key", API_KEY)
    base_url = kwargs.pop("base_url", None) or gw.url
    return AgentChat(
        agent, f"wsc-{uuid.uuid4().hex[:10]}", base_url=base_url, transport="ws", **kwargs
    )


async def stored_text(chat: AgentChat) -> str:
    message = (await chat.history())[-1]
    return "".join(p.get("text", "") for p in message.parts if p["type"] == "text")


async def close(chat: AgentChat) -> None:
    backend = chat._backend
    assert isinstance(backend, WebSocketBackend)
    await backend.aclose()


def test_transport_is_checked(settings: Settings) -> None:
    with pytest.raises(ValueError, match="transport must be 'http' or 'ws'"):
        AgentChat("quick", base_url="http://127.0.0.1:1", transport="grpc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="give base_url"):
        AgentChat("quick", settings=settings.with_overrides(), transport="ws")
    chat = AgentChat("quick", base_url="http://127.0.0.1:1", transport="ws")
    assert isinstance(chat._backend, WebSocketBackend)
    assert chat._backend.ws_url().startswith("ws://127.0.0.1:1/v1/chats/")


async def test_send_stream_steer_stop(gw: WsGateway) -> None:
    chat = ws_chat(gw, "quick")
    stream = await chat.send_message("hello there")
    assert "You said: hello there" in await stream.text()
    assert stream.ack.message_id and chat.session.last_event_id == stream.last_event_id
    again = await chat.send_message("second")
    assert "2 messages" in await again.text()
    await close(chat)

    slow = ws_chat(gw, "slow")
    stream = await slow.send_message("a long answer")
    read = 0
    async for chunk in stream:
        if isinstance(chunk, TextDeltaChunk):
            read += 1
            if read == 3:
                ack = await slow.steer("turn left")
                assert ack.injected
                break
    assert "adjusting course: turn left" in await stream.text()

    stream = await slow.send_message("another long one")
    async for chunk in stream:
        if isinstance(chunk, TextDeltaChunk):
            break
    assert stream.turn is not None and await slow.stop() == stream.turn
    result = await stream.result()
    assert result.status == "stopped"
    assert await slow.stop() is None
    await close(slow)


async def test_tool_results_and_approvals(gw: WsGateway) -> None:
    chat = ws_chat(gw, "clienty")
    stream = await chat.send_message("pick_color please")
    async for chunk in stream:
        if isinstance(chunk, ToolInputAvailableChunk):
            assert await chat.submit_tool_result(chunk.tool_call_id, "teal") == stream.turn
    result = await stream.result()
    assert result.tool_results[0]["output"] == "teal"
    with pytest.raises(NotPendingError):
        await chat.submit_tool_result("call_1", "again")
    await close(chat)

    ops = ws_chat(gw, "approver")
    for decision in ("approve", "deny"):
        stream = await ops.send_message("delete_file notes.txt")
        async for chunk in stream:
            if isinstance(chunk, ToolApprovalRequestChunk):
                if decision == "approve":
                    await ops.approve(chunk.approval_id)
                else:
                    await ops.deny(chunk.approval_id, "not today")
        result = await stream.result()
        assert result.status == "completed"
        if decision == "approve":
            assert result.tool_results[0]["output"] == "deleted"
        else:
            assert result.tool_results == []
    await close(ops)


async def test_a_dropped_socket_resumes_with_nothing_missed_or_doubled(gw: WsGateway) -> None:
    chat = ws_chat(gw, "slow")
    stream = await chat.send_message("tell me everything")
    backend = chat._backend
    assert isinstance(backend, WebSocketBackend)
    read = 0
    async for chunk in stream:
        if isinstance(chunk, TextDeltaChunk):
            read += 1
            if read == 5:
                dropped = backend.socket._ws
                dropped.transport.abort()  # the network drops mid-turn
    result = await stream.result()
    assert backend.socket._ws is not None and backend.socket._ws is not dropped
    assert result.text == await stored_text(chat)
    # The next message goes over the reopened socket.
    assert "2 messages" in await (await chat.send_message("still there?")).text()

    # reconnect(): another client resumes the turn from the session's cursor.
    stream = await chat.send_message("one more long one")
    async for chunk in stream:
        if isinstance(chunk, TextDeltaChunk):
            break
    other = ws_chat(gw, "slow", session=chat.session)
    other.id = chat.id
    other._backend = WebSocketBackend(chat.id, gw.url, streams=other._stream, api_key=API_KEY)
    rest = await other.reconnect()
    assert (await rest.result()).status == "completed"
    assert (await stream.result()).text == await stored_text(chat)
    await close(chat)
    await close(other)


async def test_a_draining_gateway_moves_the_socket(start_gateway: StartGateway) -> None:
    first, second = await start_gateway(), await start_gateway()
    current = [first.url]
    chat = ws_chat(first, "slow", base_url=lambda endpoint, chat_id: current[0])
    stream = await chat.send_message("a long one, please")
    read = 0
    async for chunk in stream:
        if isinstance(chunk, TextDeltaChunk):
            read += 1
            if read == 3:
                current[0] = second.url  # the load balancer's next pick
                await first.app.state.gateway.drain_sessions(within=5)
    assert (await stream.result()).text == await stored_text(chat)
    assert not first.app.state.gateway.sessions and second.app.state.gateway.sessions
    await close(chat)


async def test_an_expired_token_is_refused(gw: WsGateway) -> None:
    chat_id = f"wsc-{uuid.uuid4().hex[:10]}"
    token = gw.auth.mint(chat_id, None, 1)[0]
    chat = AgentChat("quick", chat_id, base_url=gw.url, token=token, transport="ws")
    await asyncio.sleep(1.5)
    with pytest.raises(AuthenticationError, match="expired"):
        await chat.send_message("too late")
