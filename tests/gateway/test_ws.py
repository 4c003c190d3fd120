"""The WebSocket session (`GET /v1/chats/{id}/ws`), driven with the `websockets` package
against a real gateway, worker, Temporal and Redis: every frame type, resume after a drop,
token expiry, refusals, bad frames, backpressure and a SIGTERM mid-stream."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from agentchat import Agent, AgentChat, Settings
from agentchat.client._ws import WebSocketBackend
from agentchat.errors import InvalidTriggerError
from agentchat.gateway import GatewayConfig, create_app
from agentchat.gateway.auth import Auth
from agentchat.models import OfflineModel
from agentchat.stream import chat_keys
from agentchat.testing.local import free_port
from agentchat.tools import tool
from tests import agents
from tests.conftest import GATEWAY_KEY, GatewayProcess, StartWorker
from tests.gateway.conftest import API_KEY, GatewayServer, serve, shutdown

WAIT = 60.0


@tool(requires_approval=True)
async def delete_file(path: str) -> str:
    """Delete a file.

    Args:
        path: Which file.
    """
    return "deleted"


approver = Agent(
    name="approver",
    model=OfflineModel(tokens_per_second=0, first_token_delay=0.0),
    tools=[delete_file],
)
#: Long answers in few, large entries: a replay of its turns fills a slow client's buffers.
wordy = Agent(
    name="wordy", model=OfflineModel(tokens_per_second=0, first_token_delay=0.0, words=20_000)
)
EXTRA = [approver, wordy]


@dataclass
class WsGateway(GatewayServer):
    app: Any = None

    def ws_url(self, chat_id: str, **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"ws://{self.url.removeprefix('http://')}/v1/chats/{chat_id}/ws" + (
            f"?{query}" if query else ""
        )


StartGateway = Callable[..., Awaitable[WsGateway]]


@pytest.fixture
async def start_gateway(
    settings: Settings, start_worker: StartWorker, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[StartGateway]:
    """Factory: a gateway (in this loop) with `GatewayConfig` overrides, in front of one
    worker serving the test agents and this module's."""
    monkeypatch.setenv("TOOL_LOG", str(tmp_path / "tool.log"))
    monkeypatch.setenv("TOOL_SECONDS", "0.5")
    await start_worker(*agents.all, *EXTRA)
    servers: list[Any] = []

    async def start(sndbuf: int | None = None, **overrides: Any) -> WsGateway:
        config = GatewayConfig(
            api_keys=(API_KEY,), keepalive_seconds=1.0, token_secret="s" * 32, **overrides
        )
        app = create_app(settings, config)
        port = free_port()
        if sndbuf is None:
            servers.append(await serve(app, port))
        else:  # accepted sockets inherit the listener's small send buffer
            servers.append(await serve_small_buffers(app, port, sndbuf))
        return WsGateway(
            url=f"http://127.0.0.1:{port}",
            api_key=API_KEY,
            auth=Auth(config.api_keys, config.token_secret),
            settings=settings,
            app=app,
        )

    yield start
    for server in servers:
        await shutdown(server)


async def serve_small_buffers(app: Any, port: int, sndbuf: int) -> uvicorn.Server:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    listener.bind(("127.0.0.1", port))
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    server.task = asyncio.create_task(server.serve(sockets=[listener]))  # type: ignore[attr-defined]
    while not server.started:  # noqa: ASYNC110 - uvicorn has no event for it
        await asyncio.sleep(0.01)
    return server


@pytest.fixture
async def gw(start_gateway: StartGateway) -> WsGateway:
    return await start_gateway()


def new_id(prefix: str = "ws") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Ws:
    """A test client: frames as dicts, each read under a generous timeout."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.frames: list[dict[str, Any]] = []
        self._ids = 0

    async def send(self, frame: dict[str, Any]) -> Any:
        self._ids += 1
        frame_id = frame.get("id", f"c{self._ids}")
        await self.conn.send(orjson.dumps({**frame, "id": frame_id}).decode())
        return frame_id

    async def recv(self) -> dict[str, Any]:
        frame: dict[str, Any] = orjson.loads(await asyncio.wait_for(self.conn.recv(), WAIT))
        self.frames.append(frame)
        return frame

    async def until(self, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        while True:
            frame = await self.recv()
            if done(frame):
                return frame

    async def answer(self, frame_id: Any) -> dict[str, Any]:
        """The `ack` or `error` of a client frame."""
        return await self.until(
            lambda f: f["type"] in ("ack", "error", "pong") and f.get("id") == frame_id
        )

    async def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        answer = await self.answer(await self.send(frame))
        assert answer["type"] in ("ack", "pong"), answer
        return answer

    async def closed(self) -> tuple[int | None, str | None]:
        """Read to the close; its code and reason."""
        try:
            while True:
                await self.recv()
        except ConnectionClosed:
            pass
        return self.conn.close_code, self.conn.close_reason

    def events(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == "event"]

    def chunks(self, chunk_type: str) -> list[dict[str, Any]]:
        return [
            f["event"]["c"]
            for f in self.events()
            if f["event"].get("k") == "chunk" and f["event"]["c"].get("type") == chunk_type
        ]


def turn_end(turn: int | None = None) -> Callable[[dict[str, Any]], bool]:
    def done(frame: dict[str, Any]) -> bool:
        event = frame.get("event") or {}
        return (
            frame["type"] == "event"
            and event.get("k") == "turn-end"
            and (turn is None or event.get("turn") == turn)
        )

    return done


def chunk(chunk_type: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f["type"] == "event" and (f["event"].get("c") or {}).get("type") == chunk_type


async def open_ws(url: str, token: str | None = None, **kwargs: Any) -> Ws:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return Ws(await connect(url, additional_headers=headers, max_size=None, **kwargs))


async def stream_ids(redis: Redis, chat_id: str) -> list[str]:
    rows: Any = await redis.xrange(chat_keys(chat_id)[0], "-", "+")
    return [row[0].decode() for row in rows]


def text_of(events: list[dict[str, Any]], turn: int) -> str:
    return "".join(
        f["event"]["c"]["delta"]
        for f in events
        if f["event"].get("turn") == turn and f["event"].get("c", {}).get("type") == "text-delta"
    )


# -- every frame type ---------------------------------------------------------------------------


async def test_every_frame_type(gw: WsGateway, redis: Redis) -> None:
    chat_id = new_id()
    ws = await open_ws(gw.ws_url(chat_id), gw.api_key)
    ready = await ws.recv()
    assert ready["type"] == "ready" and ready["chat_id"] == chat_id
    assert ready["limits"] == {
        "max_frame_bytes": 1024 * 1024,
        "send_queue": 256,
        "ping_seconds": 20,
    }

    assert (await ws.request({"type": "ping", "id": 7}))["type"] == "pong"

    sent = await ws.request({"type": "message", "agent": "quick", "message": "hello"})
    result = sent["result"]
    assert result["message_id"] and not result["duplicate"] and result["after"]
    await ws.until(turn_end(1))
    assert "You said: hello" in text_of(ws.events(), 1)
    # Each event carries its Redis entry id and the envelope as stored.
    ids = [f["id"] for f in ws.events()]
    assert ids == (await stream_ids(redis, chat_id))[-len(ids) :]

    steered = await ws.request({"type": "steer", "agent": "quick", "message": "and this"})
    assert steered["result"]["injected"] is False  # nothing ran: it is the next turn
    await ws.until(turn_end(2))
    stopped = await ws.request({"type": "stop"})
    assert stopped["result"] == {"turn": None}

    # A resume replays exactly what came after the id, then goes on live.
    first_turn_end = next(f["id"] for f in ws.events() if turn_end(1)(f))
    seen = len(ws.frames)
    resumed = await ws.request({"type": "resume", "last_event_id": first_turn_end})
    assert resumed["result"] == {"after": first_turn_end}
    await ws.until(turn_end(2))
    replayed = [f["id"] for f in ws.frames[seen:] if f["type"] == "event"]
    all_ids = await stream_ids(redis, chat_id)
    assert replayed == all_ids[all_ids.index(first_turn_end) + 1 :]

    # `trigger`: "quick" has none of that name (test_trigger_frames has the rest).
    unknown = await ws.answer(await ws.send({"type": "trigger", "name": "x"}))
    assert unknown["error"]["type"] == "InvalidTriggerError", unknown
    await ws.conn.close()

    # Client tools: `tool_result` and Vatel's `tool_call_output`.
    tools_chat = new_id()
    ws = await open_ws(gw.ws_url(tools_chat), gw.api_key)
    await ws.recv()
    for turn, name in ((1, "tool_result"), (2, "tool_call_output")):
        await ws.request({"type": "message", "agent": "clienty", "message": "pick_color please"})
        call = await ws.until(chunk("tool-input-available"))
        answered = await ws.request(
            {"type": name, "tool_call_id": call["event"]["c"]["toolCallId"], "output": "teal"}
        )
        assert answered["result"] == {"turn": turn}
        await ws.until(turn_end(turn))
        assert "teal" in str(ws.chunks("tool-output-available")[-1])
    again = await ws.answer(await ws.send({"type": "tool_result", "tool_call_id": "call_1"}))
    assert again["error"]["type"] == "NotPendingError"
    await ws.conn.close()

    # Approvals: `approve` and `deny` (with a reason).
    ops_chat = new_id()
    ws = await open_ws(gw.ws_url(ops_chat), gw.api_key)
    await ws.recv()
    for turn, decision in ((1, "approve"), (2, "deny")):
        await ws.request({"type": "message", "agent": "approver", "message": "delete_file x"})
        asked = await ws.until(chunk("tool-approval-request"))
        frame = {"type": decision, "approval_id": asked["event"]["c"]["approvalId"]}
        if decision == "deny":
            frame["reason"] = "not today"
        assert (await ws.request(frame))["result"] == {"turn": turn}
        await ws.until(turn_end(turn))
    assert ws.chunks("tool-output-available") and ws.chunks("tool-output-denied")
    await ws.conn.close()


# -- resume -------------------------------------------------------------------------------------


async def test_a_drop_mid_turn_resumes_with_nothing_missed_or_doubled(
    gw: WsGateway, redis: Redis
) -> None:
    chat_id = new_id()
    first = await open_ws(gw.ws_url(chat_id), gw.api_key)
    await first.recv()
    await first.request({"type": "message", "agent": "slow", "message": "tell me"})
    await first.until(chunk("text-delta"))
    for _ in range(5):
        await first.until(chunk("text-delta"))
    last = first.events()[-1]["id"]
    await first.conn.close()  # mid-turn: the slow answer takes seconds

    second = await open_ws(gw.ws_url(chat_id, last_event_id=last), gw.api_key)
    ready = await second.recv()
    assert ready["after"] == last
    await second.until(turn_end(1))
    events = first.events() + second.events()
    ids = [f["id"] for f in events]
    assert len(ids) == len(set(ids))  # nothing twice
    all_ids = await stream_ids(redis, chat_id)
    assert ids == all_ids[all_ids.index(ids[0]) :]  # nothing missed
    async with gw.client() as client:
        stored = (await client.get(f"/v1/chats/{chat_id}")).json()["messages"][-1]
    stored_text = "".join(p.get("text", "") for p in stored["parts"] if p["type"] == "text")
    assert text_of(events, 1) == stored_text
    await second.conn.close()


# -- authentication -----------------------------------------------------------------------------


async def refusal(url: str, token: str | None) -> tuple[dict[str, Any], int | None]:
    ws = await open_ws(url, token)
    error = await ws.recv()
    code, _ = await ws.closed()
    return error, code


async def test_refusals_close_with_a_policy_violation(gw: WsGateway) -> None:
    chat_id, other_chat = new_id(), new_id()
    user, other_user = f"u-{uuid.uuid4().hex[:6]}", f"u-{uuid.uuid4().hex[:6]}"
    theirs = gw.mint_user_token(other_user)
    async with gw.client(theirs) as client:
        sent = await client.post(
            f"/v1/chats/{other_chat}/messages",
            json={"agent": "quick", "message": "mine"},
            headers={"accept": "application/json"},
        )
        assert sent.status_code == 200, sent.text

    error, code = await refusal(gw.ws_url(chat_id), None)
    assert code == 1008 and error["error"]["type"] == "AuthenticationError"
    # A chat token for another chat.
    error, code = await refusal(gw.ws_url(chat_id, token=gw.mint_token(other_chat)), None)
    assert code == 1008 and error["error"]["type"] == "PermissionDeniedError"
    # Another user's chat: exactly what a chat that does not exist... would say to anyone.
    mine = gw.mint_user_token(user)
    error, code = await refusal(gw.ws_url(other_chat, token=mine), None)
    assert code == 1008
    assert error == {
        "type": "error",
        "id": None,
        "error": {"type": "ChatNotFoundError", "message": f"no chat {other_chat!r}"},
    }
    # Expired and tampered tokens; a bad cursor.
    expired = gw.auth.mint(chat_id, None, -5)[0]
    error, code = await refusal(gw.ws_url(chat_id, token=expired), None)
    assert code == 1008 and error["error"]["message"] == "the token has expired"
    assert expired not in str(error)
    error, code = await refusal(gw.ws_url(chat_id, token=mine[:-3] + "xyz"), None)
    assert code == 1008 and error["error"]["type"] == "AuthenticationError"
    error, code = await refusal(gw.ws_url(chat_id, last_event_id="nope"), gw.api_key)
    assert code == 1008 and error["error"]["type"] == "InvalidCursorError"

    # A user token's new chat is theirs from its first message, and followed from then on.
    ws = await open_ws(gw.ws_url(chat_id, token=mine), None)
    await ws.recv()
    await ws.request({"type": "message", "agent": "quick", "message": "hi"})
    await ws.until(turn_end(1))
    taken = await ws.answer(await ws.send({"type": "message", "message": "x", "owner": "bob"}))
    assert taken["error"]["type"] == "PermissionDeniedError"
    await ws.conn.close()


async def test_the_cookie_works_from_the_pages_origin_only(gw: WsGateway) -> None:
    chat_id = new_id()
    cookie = {"Cookie": f"agentchat_token={gw.mint_token(chat_id)}"}
    ws = Ws(await connect(gw.ws_url(chat_id), additional_headers=cookie, origin=Origin(gw.url)))
    assert (await ws.recv())["type"] == "ready"
    await ws.conn.close()
    evil = await connect(
        gw.ws_url(chat_id),
        additional_headers=cookie,
        origin=Origin("https://evil.example"),
    )
    refused = Ws(evil)
    error = await refused.recv()
    assert error["error"]["type"] == "PermissionDeniedError"
    assert (await refused.closed())[0] == 1008


async def test_expiry_mid_session_ends_it(gw: WsGateway) -> None:
    chat_id = new_id()
    token, expires = gw.auth.mint(chat_id, None, 2)
    ws = await open_ws(gw.ws_url(chat_id, token=token), None)
    ready = await ws.recv()
    assert ready["expires_at"] == expires
    await ws.request({"type": "message", "agent": "quick", "message": "quick one"})
    await ws.until(turn_end(1))
    error = await ws.until(lambda f: f["type"] == "error")
    assert error["error"] == {"type": "AuthenticationError", "message": "the token has expired"}
    assert error["last_event_id"] == ws.events()[-1]["id"]  # where a new session resumes
    code, reason = await ws.closed()
    assert code == 1008 and reason == "token expired"
    assert time.time() >= expires


async def test_session_tokens(gw: WsGateway) -> None:
    chat_id, user = new_id(), f"u-{uuid.uuid4().hex[:6]}"
    async with gw.client() as client:
        minted = await client.post(f"/v1/chats/{chat_id}/session", json={"ttl_seconds": 60})
        assert minted.status_code == 200, minted.text
        view = minted.json()
        assert view["chat_id"] == chat_id and view["user_id"] is None
        assert view["expires_at"] - time.time() <= 61
        too_long = await client.post(f"/v1/chats/{chat_id}/session", json={"ttl_seconds": 7200})
        assert too_long.status_code == 422
    ws = await open_ws(gw.ws_url(chat_id, token=view["token"]), None)
    assert (await ws.recv())["expires_at"] == view["expires_at"]
    await ws.conn.close()
    # A user token mints one acting as its user on that chat only (and listing nothing).
    async with gw.client(gw.mint_user_token(user)) as client:
        minted = await client.post(f"/v1/chats/{chat_id}/session", json={})
        assert minted.status_code == 200 and minted.json()["user_id"] == user
        named = await client.post(f"/v1/chats/{chat_id}/session", json={"user_id": "someone"})
        assert named.status_code == 403
    session = minted.json()["token"]
    async with gw.client(session) as client:
        assert (await client.get("/v1/chats")).status_code == 403
    error, code = await refusal(gw.ws_url(new_id(), token=session), None)
    assert code == 1008 and error["error"]["type"] == "PermissionDeniedError"


# -- bad input ----------------------------------------------------------------------------------


async def test_bad_frames_get_an_error_and_the_socket_stays_open(gw: WsGateway) -> None:
    chat_id = new_id()
    ws = await open_ws(gw.ws_url(chat_id), gw.api_key)
    await ws.recv()

    async def error_for(raw: str | bytes) -> dict[str, Any]:
        await ws.conn.send(raw)
        frame = await ws.until(lambda f: f["type"] == "error")
        assert (await ws.request({"type": "ping"}))["type"] == "pong"  # still usable
        error: dict[str, Any] = frame["error"]
        return error

    assert (await error_for("{not json"))["type"] == "InvalidRequestError"
    assert "malformed JSON" in (await error_for("{not json"))["message"]
    assert (await error_for("[1, 2]"))["type"] == "InvalidRequestError"
    assert (await error_for(b"\x00\x01"))["type"] == "InvalidRequestError"
    big = orjson.dumps({"type": "message", "message": "x" * (1024 * 1024)}).decode()
    assert (await error_for(big))["type"] == "RequestTooLargeError"
    unknown = await error_for('{"type": "dance", "id": 1}')
    assert unknown["type"] == "InvalidRequestError" and unknown["fields"] == ["type"]
    missing = await error_for('{"type": "message", "id": 2, "agent": "quick"}')
    assert missing["fields"] == ["message"]
    extra = await error_for('{"type": "stop", "id": 3, "force": true}')
    assert extra["fields"] == ["force"]
    approval = await error_for('{"type": "approve", "id": 4}')
    assert approval["fields"] == ["approval_id"]
    cursor = await error_for('{"type": "resume", "id": 5, "last_event_id": "x"}')
    assert cursor["fields"] == ["last_event_id"]
    # Nothing was queued: the chat never started.
    async with gw.client() as client:
        assert (await client.get(f"/v1/chats/{chat_id}")).status_code == 404
    await ws.conn.close()


# -- backpressure -------------------------------------------------------------------------------


async def test_a_slow_client_is_told_to_resume_and_loses_nothing(
    start_gateway: StartGateway, redis: Redis
) -> None:
    gw = await start_gateway(sndbuf=4096, ws_send_queue=4, ws_stall_seconds=0.5)
    chat_id = new_id()
    async with gw.client() as client:
        for text in ("one", "two", "three"):
            sent = await client.post(
                f"/v1/chats/{chat_id}/messages", json={"agent": "wordy", "message": text}
            )
            assert sent.status_code == 200 and '"turn-end"' in sent.text
    all_ids = await stream_ids(redis, chat_id)

    # A client that reads nothing for a while: a small receive buffer, no read-ahead.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(gw.url.rsplit(":", 1)[1])))
    slow = await open_ws(
        gw.ws_url(chat_id, **{"from": "start"}), gw.api_key, sock=sock, max_queue=1
    )
    await asyncio.sleep(3)
    told = await slow.until(lambda f: f["type"] == "reconnect")
    assert told["reason"] == "backpressure"
    code, reason = await slow.closed()
    assert code == 1013 and reason and "resume after" in reason
    received = [f["id"] for f in slow.events()]
    assert told["last_event_id"] == received[-1] and len(received) < len(all_ids)

    resumed = await open_ws(gw.ws_url(chat_id, last_event_id=told["last_event_id"]), gw.api_key)
    await resumed.until(turn_end(3))
    ids = received + [f["id"] for f in resumed.events()]
    assert ids == all_ids  # nothing lost, nothing twice
    await resumed.conn.close()


# -- drain --------------------------------------------------------------------------------------


async def test_sigterm_mid_stream_moves_the_session_to_another_gateway(
    settings: Settings,
    start_worker: StartWorker,
    gateway_process: Callable[..., GatewayProcess],
    redis: Redis,
) -> None:
    await start_worker(*agents.all)
    first, second = gateway_process(), gateway_process()
    await asyncio.gather(first.wait_ready(), second.wait_ready())
    chat_id = new_id()
    base = first.url.removeprefix("http://")
    ws = await open_ws(f"ws://{base}/v1/chats/{chat_id}/ws", GATEWAY_KEY)
    await ws.recv()
    await ws.request({"type": "message", "agent": "slow", "message": "a long one"})
    for _ in range(3):
        await ws.until(chunk("text-delta"))
    first.terminate()
    told = await ws.until(lambda f: f["type"] == "reconnect")
    assert told["reason"] == "draining"
    code, _ = await ws.closed()
    assert code == 1012
    assert await first.wait_exit(within=30) == 0
    received = [f["id"] for f in ws.events()]
    assert told["last_event_id"] == received[-1]

    base = second.url.removeprefix("http://")
    url = f"ws://{base}/v1/chats/{chat_id}/ws?last_event_id={told['last_event_id']}"
    resumed = await open_ws(url, GATEWAY_KEY)
    await resumed.until(turn_end(1))
    ids = received + [f["id"] for f in resumed.events()]
    all_ids = await stream_ids(redis, chat_id)
    assert ids == all_ids[all_ids.index(ids[0]) :]
    await resumed.conn.close()
    second.terminate()
    assert await second.wait_exit(within=30) == 0


async def test_a_draining_gateway_refuses_new_sessions(gw: WsGateway) -> None:
    gateway = gw.app.state.gateway
    ws = await open_ws(gw.ws_url(new_id()), gw.api_key)
    await ws.recv()
    await gateway.drain_sessions(within=5)
    told = await ws.until(lambda f: f["type"] == "reconnect")
    assert told == {"type": "reconnect", "reason": "draining", "last_event_id": None}
    assert (await ws.closed())[0] == 1012
    late = await open_ws(gw.ws_url(new_id(), last_event_id="5-0"), gw.api_key)
    assert (await late.recv())["last_event_id"] == "5-0"
    assert (await late.closed())[0] == 1012
    gateway.draining = False


# -- triggers -----------------------------------------------------------------------------------


async def test_trigger_frames(gw: WsGateway) -> None:
    """`trigger` frames: acked like a message, its turn's events on the socket, idempotent
    by `trigger_id`, typed errors for an unknown trigger or input its schema refuses (nothing
    queued), and `AgentChat.trigger` over `transport="ws"`."""
    chat_id = new_id("wstrg")
    ws = await open_ws(gw.ws_url(chat_id), gw.api_key)
    await ws.recv()
    # A new chat of an agent with inputs: the frame carries them.
    first = {"type": "message", "agent": "keeper", "message": "hi", "inputs": {"NAME": "Ada"}}
    await ws.request(first)
    await ws.until(turn_end(1))

    frame = {"type": "trigger", "name": "label", "input": {"LABEL": "vip"}, "trigger_id": "t-1"}
    acked = (await ws.request(frame))["result"]
    assert acked["message_id"] == "t-1" and not acked["duplicate"] and acked["after"]
    await ws.until(turn_end(2))
    assert {"name": "LABEL", "value": "vip"} in [c["data"] for c in ws.chunks("data-resource")]
    assert "You said:" in text_of(ws.events(), 2)
    again = (await ws.request(frame))["result"]
    assert again["duplicate"] is True and again["turn"] == 2

    unknown = await ws.answer(await ws.send({"type": "trigger", "name": "nope"}))
    assert unknown["error"]["type"] == "InvalidTriggerError"
    assert "no trigger 'nope'" in unknown["error"]["message"]
    bad = await ws.answer(await ws.send({"type": "trigger", "name": "label", "input": {}}))
    assert bad["error"]["type"] == "InvalidTriggerError"
    assert "LABEL" in bad["error"]["message"]
    malformed = await ws.answer(await ws.send({"type": "trigger", "name": "a b"}))
    assert malformed["error"]["type"] == "InvalidRequestError"
    assert malformed["error"]["fields"] == ["name"]
    await ws.conn.close()
    async with gw.client() as client:
        status = (await client.get(f"/v1/chats/{chat_id}")).json()["status"]
    assert status["last_turn"] == 2 and status["queued"] == 0  # the refusals queued nothing

    # The Python client over the socket.
    chat = AgentChat(
        "keeper", chat_id, base_url=gw.url, api_key=gw.api_key, transport="ws", stream_timeout=30
    )
    try:
        stream = await chat.trigger("label", {"LABEL": "gold"}, trigger_id="t-2")
        assert "You said:" in await stream.text()
        assert stream.turn == 3
        assert (await chat.resources())["LABEL"] == "gold"
        with pytest.raises(InvalidTriggerError, match=r"LABEL"):
            await chat.trigger("label", {"LABEL": 5})
    finally:
        backend = chat._backend
        assert isinstance(backend, WebSocketBackend)
        await backend.aclose()


async def test_a_new_chats_inputs_go_over_the_socket(gw: WsGateway) -> None:
    """`AgentChat(..., inputs=..., transport="ws")`: the first message frame carries them."""
    chat = AgentChat(
        "keeper",
        new_id("wsin"),
        base_url=gw.url,
        api_key=gw.api_key,
        transport="ws",
        inputs={"NAME": "Grace"},
        stream_timeout=30,
    )
    try:
        assert "You said:" in await (await chat.send_message("hello")).text()
    finally:
        backend = chat._backend
        assert isinstance(backend, WebSocketBackend)
        await backend.aclose()
    async with gw.client() as client:
        view = (await client.get(f"/v1/chats/{chat.id}")).json()
    assert view["status"]["last_turn"] == 1
