"""The WebSocket session: `GET /v1/chats/{id}/ws`, one socket carrying a chat both ways.

The client sends JSON text frames (`message`, `trigger`, `steer`, `stop`, `tool_result`,
`approve`, `deny`, `resume`, `ping`), each with an `id` of its choosing; the server answers
each with an `ack` or a typed `error` carrying that id, and forwards the chat's stream as
`/events` does: every entry, across turns, as
`{"type": "event", "id": <Redis entry id>, "event": <envelope>}`, so a client that
reconnects with `?last_event_id=` gets exactly what it missed, then live.

Authentication is the HTTP routes' (`auth`, `owners`): checked at connect, and a token's
expiry on every frame received and when it passes. Refusals close with 1008 after an `error`
frame saying why (another user's chat: the very `ChatNotFoundError` a missing chat gets).

Memory per socket is bounded: at most `GatewayConfig.ws_send_queue` frames wait for a slow
client (the transport's own buffer aside), and reading the chat pauses while they do. When the
queue stays full for `ws_stall_seconds` the session drops the frames it holds, tells the client
to resume after the last event it was handed (`reconnect`) and closes with 1013, so nothing
is lost. On SIGTERM every session says `reconnect` and closes with 1012.
See docs/gateway.md for the protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError
from starlette.websockets import WebSocketDisconnect

from agentchat.errors import (
    AgentChatError,
    AuthenticationError,
    InvalidCursorError,
    PermissionDeniedError,
    RedisUnavailableError,
)
from agentchat.gateway.auth import CREDENTIALS, TOKEN_COOKIE
from agentchat.gateway.deps import ERROR_RESPONSES, ChatId, Gateway, Gw, InputCaller, follow_chat
from agentchat.gateway.owners import check_may_write, check_visible, record_of
from agentchat.gateway.problems import ApiError, status_for
from agentchat.gateway.schemas import (
    ApprovalFrame,
    MessageFrame,
    PingFrame,
    ResumeFrame,
    SendAckBody,
    SessionBody,
    SteerFrame,
    StopFrame,
    TokenView,
    ToolResultFrame,
    TriggerFrame,
)
from agentchat.logs import bind_log_context
from agentchat.protocol.identifiers import is_chat_id
from agentchat.protocol.messages import UIMessage
from agentchat.stream._reader import previous_id
from agentchat.stream._store import check_cursor

__all__ = ["CLOSE_POLICY", "CLOSE_RESTART", "CLOSE_TRY_AGAIN", "router", "tokens"]

log = logging.getLogger("agentchat.gateway")

router = APIRouter()
"""The socket itself (its credentials are read by the session, not declared)."""
tokens = APIRouter(responses=ERROR_RESPONSES, dependencies=CREDENTIALS)
"""`POST /v1/chats/{id}/session`."""

CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008
"""Refused: missing, invalid or expired credentials, another chat's token, another user's
chat, a malformed connect parameter."""
CLOSE_ERROR = 1011
"""The gateway failed (Redis or the chat store unreachable): reconnect and resume."""
CLOSE_RESTART = 1012
"""The gateway is draining (SIGTERM): reconnect, to another replica, and resume."""
CLOSE_TRY_AGAIN = 1013
"""The client read too slowly (the send queue filled): reconnect and resume."""

UNSUPPORTED = "UnsupportedFrame"
"""The error type of a frame this gateway knows of but does not take yet (none today)."""
INVALID = "InvalidRequestError"
TOO_LARGE = "RequestTooLargeError"

_FRAMES: dict[str, type[BaseModel]] = {
    "message": MessageFrame,
    "trigger": TriggerFrame,
    "steer": SteerFrame,
    "stop": StopFrame,
    "tool_result": ToolResultFrame,
    "tool_call_output": ToolResultFrame,
    "approve": ApprovalFrame,
    "deny": ApprovalFrame,
    "resume": ResumeFrame,
    "ping": PingFrame,
}
_LATER: frozenset[str] = frozenset()
"""Frame types of the protocol that this gateway does not take yet."""
_ANSWERS_OVER = 64
"""How far `ack`, `error` and `pong` frames may exceed the send queue's bound."""
_FLUSH_SECONDS = 10.0
"""How long the last frames and the close may take to reach a client before it is dropped."""


class _Refused(Exception):
    """Ends the session: an error frame, then a close with `code`."""

    def __init__(self, code: int, type_name: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.type_name = type_name
        self.message = message


@tokens.post(
    "/v1/chats/{chat_id}/session", response_model=TokenView, summary="Mint a session token"
)
async def session_token(
    chat_id: ChatId, body: SessionBody, principal: InputCaller, gateway: Gw
) -> TokenView:
    """A short-lived token (10 minutes by default, at most an hour) for this one chat, for a
    browser to open `/v1/chats/{id}/ws?token=...` with (Vatel's session JWT).

    An API key mints a chat token, or with `user_id` a token acting as that owner on this
    chat only; a user token mints the latter for its own user (its chats and new ids; another
    owner's chat is a `404`); a chat token mints a fresh one for its chat.
    """
    if body.user_id is not None and not principal.is_server:
        raise ApiError(403, PermissionDeniedError.__name__, "only an API key may name user_id")
    principal.check_agent(body.agent)
    user = body.user_id if principal.is_server else principal.user_id
    if user is not None:
        await check_may_write(gateway.settings, user, chat_id)
    token, expires = gateway.auth.mint_session(
        chat_id, user, body.agent or principal.agent, body.ttl_seconds
    )
    return TokenView(token=token, chat_id=chat_id, user_id=user, expires_at=expires)


@router.websocket("/v1/chats/{chat_id}/ws")
async def chat_socket(websocket: WebSocket, chat_id: str) -> None:
    """A chat session over one WebSocket (see the module docstring and docs/gateway.md)."""
    gateway: Gateway = websocket.app.state.gateway
    bind_log_context(chat_id=chat_id if is_chat_id(chat_id) else None)
    await websocket.accept()
    await Session(websocket, gateway, chat_id).run()


def _error_frame(
    frame_id: Any, type_name: str, message: str, fields: list[str] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type_name, "message": message}
    if fields:
        error["fields"] = fields
    return {"type": "error", "id": frame_id, "error": error}


def _dumps(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


class Session:
    """One socket: a receive loop handling client frames in order, a follower forwarding the
    chat's stream into a bounded queue, and a sender writing that queue to the socket."""

    def __init__(self, websocket: WebSocket, gateway: Gateway, chat_id: str) -> None:
        self.ws = websocket
        self.gateway = gateway
        self.chat_id = chat_id
        self.config = gateway.config
        self.principal: Any = None
        self.cursor = "0-0"
        """The last event id queued (the follower reads after it)."""
        self.sent_id: str | None = None
        """The last event id handed to the socket: where a told-to-resume client resumes."""
        self._out: deque[tuple[str, str | None]] = deque()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._end: tuple[int | None, str, Callable[[], dict[str, Any]] | None] | None = None
        self._follower: asyncio.Task[None] | None = None
        self._visible = False
        """Whether the follower may read the chat: a user token's new chat id is followed
        only once its first message made it theirs."""

    # -- the session's life -------------------------------------------------------------------

    async def run(self) -> None:
        self.gateway.sessions.add(self)
        tasks: list[asyncio.Task[None]] = []
        try:
            if self.gateway.draining:
                with contextlib.suppress(InvalidCursorError):  # the client's cursor, if any
                    self.sent_id = check_cursor(self.ws.query_params.get("last_event_id", ""))
                self._finish(CLOSE_RESTART, "draining", self._reconnect_frame("draining"))
            else:
                try:
                    await self._open()
                except _Refused as exc:
                    error = _error_frame(None, exc.type_name, exc.message)
                    self._finish(exc.code, exc.type_name, lambda: error)
            if self._end is None:
                tasks.append(asyncio.create_task(self._receive()))
                tasks.append(asyncio.create_task(self._expire_at_expiry()))
            await self._send()
        finally:
            self.gateway.sessions.discard(self)
            for task in [*tasks, *([self._follower] if self._follower else [])]:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            if self._follower is not None:
                with contextlib.suppress(BaseException):
                    await self._follower

    async def _open(self) -> None:
        """Authenticate, check the chat and the cursor, say `ready`, start following."""
        if not is_chat_id(self.chat_id):
            raise _Refused(CLOSE_POLICY, INVALID, "path.chat_id: not a chat id")
        if self._cross_site_cookie():
            # A browser sends cookies with a WebSocket from any site, and CORS does not
            # apply: only the page's own origin (or an allowed one) may use the cookie.
            message = "a cross-origin WebSocket may not use the cookie: pass ?token="
            raise _Refused(CLOSE_POLICY, PermissionDeniedError.__name__, message)
        try:
            principal = self.gateway.auth.authenticate(self.ws)
            principal.check_chat(self.chat_id)
            if principal.owner is not None:
                # Another owner's chat is the same 404 as a missing one. A new id is theirs
                # once its first message says so: followed from then on.
                await check_may_write(self.gateway.settings, principal.owner, self.chat_id)
                record = await record_of(self.gateway.settings, self.chat_id)
                self._visible = record is not None
            else:
                self._visible = True
        except ApiError as exc:
            code = CLOSE_POLICY if exc.status < 500 else CLOSE_ERROR
            raise _Refused(code, exc.type_name, exc.message) from None
        except AgentChatError as exc:
            code = CLOSE_POLICY if status_for(exc) < 500 else CLOSE_ERROR
            raise _Refused(code, type(exc).__name__, str(exc)) from None
        self.principal = principal
        try:
            self.cursor = await self._start_cursor()
        except (RedisError, OSError) as exc:
            message = f"the chat's stream cannot be read: {type(exc).__name__}"
            raise _Refused(CLOSE_ERROR, RedisUnavailableError.__name__, message) from None
        self._push(
            {
                "type": "ready",
                "chat_id": self.chat_id,
                "after": self.cursor,
                "expires_at": principal.expires_at,
                "limits": {
                    "max_frame_bytes": self.config.max_body_bytes,
                    "send_queue": self.config.ws_send_queue,
                    "ping_seconds": self.config.ws_ping_seconds,
                },
            }
        )
        if self._visible:
            self._start_following()

    def _cross_site_cookie(self) -> bool:
        headers, query = self.ws.headers, self.ws.query_params
        origin = headers.get("origin")
        if not origin or not self.ws.cookies.get(TOKEN_COOKIE):
            return False
        if headers.get("authorization") or headers.get("x-api-key") or query.get("token"):
            return False  # not the cookie that authenticates
        same_site = urlsplit(origin).netloc == headers.get("host")
        return not same_site and origin not in self.config.cors_origins

    async def _start_cursor(self) -> str:
        query = self.ws.query_params
        given = query.get("last_event_id") or query.get("after")
        if given:
            try:
                return check_cursor(given)
            except InvalidCursorError as exc:
                raise _Refused(CLOSE_POLICY, InvalidCursorError.__name__, str(exc)) from None
        start = query.get("from", "turn")
        if start not in ("turn", "live", "start"):
            raise _Refused(CLOSE_POLICY, INVALID, "query.from: one of turn, live, start")
        if start == "start":
            return "0-0"
        store = await self.gateway.store()
        _, turn_start = await store.active_turn(self.chat_id)
        if start == "turn" and turn_start is not None:
            return previous_id(turn_start)
        return await store.last_id(self.chat_id)

    def drain(self) -> None:
        """SIGTERM: tell the client to resume elsewhere, and close."""
        self._finish(CLOSE_RESTART, "draining", self._reconnect_frame("draining"))

    def _finish(
        self, code: int | None, reason: str, final: Callable[[], dict[str, Any]] | None = None
    ) -> None:
        """End the session: drop the event frames still queued (the client resumes after the
        last one it was handed), send `final`, close with `code` (None: the client left)."""
        if self._end is not None:
            return
        self._end = (code, reason, final)
        kept = [(frame, event_id) for frame, event_id in self._out if event_id is None]
        self._out = deque(kept)
        if self._follower is not None:
            self._follower.cancel()
        self._wake.set()

    def _reconnect_frame(self, reason: str) -> Callable[[], dict[str, Any]]:
        # Built when sent: by then `sent_id` is the last event the client was handed.
        return lambda: {"type": "reconnect", "reason": reason, "last_event_id": self.sent_id}

    # -- sending ------------------------------------------------------------------------------

    def _push(self, frame: dict[str, Any] | str, event_id: str | None = None) -> bool:
        """Queue a frame; False when the session has ended, or ends it now: answers to the
        client's own frames may exceed the bound by `_ANSWERS_OVER` (a client that sends
        and never reads), events wait for room in `_push_event` first."""
        if self._end is not None:
            return False
        bound = self.config.ws_send_queue + (0 if event_id else _ANSWERS_OVER)
        if len(self._out) >= bound:
            self._overflow()
            return False
        self._out.append((frame if isinstance(frame, str) else _dumps(frame), event_id))
        self._wake.set()
        return True

    async def _push_event(self, frame: str, event_id: str | None) -> bool:
        """Queue an event, waiting up to `ws_stall_seconds` for room in the queue."""
        if len(self._out) >= self.config.ws_send_queue and self._end is None:
            try:
                async with asyncio.timeout(self.config.ws_stall_seconds):
                    while len(self._out) >= self.config.ws_send_queue and self._end is None:
                        self._room.clear()
                        await self._room.wait()
            except TimeoutError:
                self._overflow()
                return False
        return self._push(frame, event_id)

    def _overflow(self) -> None:
        log.info("chat %s: a WebSocket client reads too slowly; told to resume", self.chat_id)
        self._finish(CLOSE_TRY_AGAIN, "slow client", self._reconnect_frame("backpressure"))

    async def _send(self) -> None:
        """Write queued frames in order; once the session ends, its last frame and close."""
        try:
            while True:
                if self._out:
                    frame, event_id = self._out.popleft()
                    self._room.set()
                    await self.ws.send_text(frame)
                    if event_id:
                        self.sent_id = event_id
                    continue
                if self._end is not None:
                    break
                self._wake.clear()
                await self._wake.wait()
            code, reason, final = self._end
            if code is None:
                return  # the client left
            async with asyncio.timeout(_FLUSH_SECONDS):
                if final is not None:
                    await self.ws.send_text(_dumps(final()))
                await self.ws.close(code, self._close_reason(code, reason))
        except (WebSocketDisconnect, RuntimeError, OSError, TimeoutError):
            return  # gone (uvicorn raises its ClientDisconnected, an OSError)

    def _close_reason(self, code: int, reason: str) -> str:
        if code in (CLOSE_RESTART, CLOSE_TRY_AGAIN):
            after = f"; resume after {self.sent_id}" if self.sent_id else ""
            return f"{reason}{after}"[:120]
        return reason[:120]

    # -- following the chat -------------------------------------------------------------------

    def _start_following(self) -> None:
        self._visible = True
        if self._end is not None:
            return
        self._follower = asyncio.create_task(self._follow(self.cursor))

    async def _follow(self, cursor: str) -> None:
        sent = 0
        async for entry in follow_chat(self.gateway, self.chat_id, cursor, None):
            if entry.id:
                # The envelope exactly as stored, not parsed again.
                frame = f'{{"type":"event","id":"{entry.id}","event":{entry.raw.decode()}}}'
            else:  # resync: no id
                frame = _dumps({"type": "event", "id": None, "event": entry.envelope})
            if not await self._push_event(frame, entry.id or None):
                return
            if entry.id:
                self.cursor = entry.id
            sent += 1
            if sent % 32 == 0:
                await asyncio.sleep(0)  # a batch read: let the sender write some
        # Redis kept failing: the client resumes from its last id (here or elsewhere).
        self._finish(CLOSE_ERROR, "stream unavailable", self._reconnect_frame("unavailable"))

    # -- receiving ----------------------------------------------------------------------------

    async def _expire_at_expiry(self) -> None:
        expires = self.principal.expires_at
        if expires is None:
            return
        await asyncio.sleep(max(expires - time.time(), 0.0))
        self._expired()

    def _expired(self) -> None:
        error = _error_frame(None, AuthenticationError.__name__, "the token has expired")
        error["last_event_id"] = None

        def final() -> dict[str, Any]:
            error["last_event_id"] = self.sent_id
            return error

        self._finish(CLOSE_POLICY, "token expired", final)

    async def _receive(self) -> None:
        """Client frames, handled one after another (a slow one holds the next back, and
        the socket's reads with it: a client cannot queue unbounded work)."""
        try:
            while self._end is None:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if self.principal.expired():
                    self._expired()
                    return
                await self._handle(message.get("text"), message.get("bytes"))
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        except Exception:
            log.exception("chat %s: WebSocket session failed", self.chat_id)
            error = _error_frame(None, "InternalError", "internal error")
            self._finish(CLOSE_ERROR, "internal error", lambda: error)
            return
        self._finish(None, "gone")

    async def _handle(self, text: str | None, data: bytes | None) -> None:
        limit = self.config.max_body_bytes
        if text is None:
            size = len(data or b"")
            if size > limit:
                self._push(_error_frame(None, TOO_LARGE, f"frame over {limit} bytes"))
            else:
                self._push(_error_frame(None, INVALID, "binary frame: send JSON as text"))
            return
        if len(text) > limit or len(text.encode()) > limit:
            self._push(_error_frame(None, TOO_LARGE, f"frame over {limit} bytes"))
            return
        try:
            raw = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            self._push(_error_frame(None, INVALID, f"malformed JSON: {exc}"[:300]))
            return
        if not isinstance(raw, dict):
            self._push(_error_frame(None, INVALID, "a frame is a JSON object"))
            return
        frame_id = raw.get("id") if isinstance(raw.get("id"), str | int) else None
        kind = raw.get("type")
        if kind in _LATER:
            message = f"{kind!r} frames are not supported yet"
            self._push(_error_frame(frame_id, UNSUPPORTED, message, ["type"]))
            return
        model = _FRAMES.get(kind) if isinstance(kind, str) else None
        if model is None:
            known = ", ".join(sorted(_FRAMES))
            message = f"type: unknown frame type {str(kind)[:40]!r} (one of {known})"
            self._push(_error_frame(frame_id, INVALID, message, ["type"]))
            return
        try:
            frame = model.model_validate(raw)
        except ValidationError as exc:
            self._push(_invalid(frame_id, exc))
            return
        await self._answer(frame_id, frame)

    async def _answer(self, frame_id: Any, frame: BaseModel) -> None:
        """Run a frame's operation; `ack` with its result, or `error` with its type."""
        handler = self._handlers()[type(frame)]
        try:
            result = await handler(frame)
        except ApiError as exc:
            self._push(_error_frame(frame_id, exc.type_name, exc.message, exc.fields))
            return
        except AgentChatError as exc:
            if status_for(exc) >= 500:
                log.warning("chat %s: %s: %s", self.chat_id, type(exc).__name__, exc)
            self._push(_error_frame(frame_id, type(exc).__name__, str(exc)))
            return
        if isinstance(frame, PingFrame):
            self._push({"type": "pong", "id": frame_id})
        else:
            self._push({"type": "ack", "id": frame_id, "ok": True, "result": result})

    def _handlers(self) -> dict[type[BaseModel], Callable[[Any], Awaitable[Any]]]:
        return {
            MessageFrame: self._message,
            TriggerFrame: self._trigger,
            SteerFrame: self._steer,
            StopFrame: self._stop,
            ToolResultFrame: self._tool_result,
            ApprovalFrame: self._approval,
            ResumeFrame: self._resume,
            PingFrame: self._ping,
        }

    # -- the operations, with the HTTP routes' checks ----------------------------------------

    async def _message(self, frame: MessageFrame) -> dict[str, Any]:
        owner = await self.gateway.input_owner(self.chat_id, self.principal, frame.owner)
        agent = await self.gateway.agent_of(self.chat_id, frame.agent, self.principal)
        chat = self.gateway.chat(
            self.chat_id, agent, client_data=frame.client_data, owner=owner, inputs=frame.inputs
        )
        stream = await chat.send_message(
            _message(frame.message, frame.message_id), message_id=frame.message_id
        )
        self._now_visible()
        return SendAckBody.of(stream.ack, after=stream.after).model_dump()

    async def _trigger(self, frame: TriggerFrame) -> dict[str, Any]:
        """As `POST /v1/chats/{id}/triggers/{name}`: queued like a message; an unknown
        trigger or input its schema refuses is an `InvalidTriggerError`, nothing queued."""
        owner = await self.gateway.input_owner(self.chat_id, self.principal, frame.owner)
        agent = await self.gateway.agent_of(self.chat_id, frame.agent, self.principal)
        chat = self.gateway.chat(
            self.chat_id, agent, client_data=frame.client_data, owner=owner, inputs=frame.inputs
        )
        stream = await chat.trigger(frame.name, frame.input, trigger_id=frame.trigger_id)
        self._now_visible()
        return SendAckBody.of(stream.ack, after=stream.after).model_dump()

    async def _steer(self, frame: SteerFrame) -> dict[str, Any]:
        owner = await self.gateway.input_owner(self.chat_id, self.principal, frame.owner)
        agent = await self.gateway.agent_of(self.chat_id, frame.agent, self.principal)
        ack = await self.gateway.chat(self.chat_id, agent, owner=owner).steer(
            _message(frame.message, frame.message_id), message_id=frame.message_id
        )
        self._now_visible()
        return SendAckBody.of(ack).model_dump()

    def _now_visible(self) -> None:
        """The chat is the caller's now (its input was accepted): follow it, if not yet."""
        if not self._visible:
            self._start_following()

    async def _visible_to_caller(self) -> None:
        await check_visible(self.gateway.settings, self.principal, self.chat_id)

    async def _stop(self, frame: StopFrame) -> dict[str, Any]:
        await self._visible_to_caller()
        return {"turn": await self.gateway.chat(self.chat_id).stop()}

    async def _tool_result(self, frame: ToolResultFrame) -> dict[str, Any]:
        await self._visible_to_caller()
        turn = await self.gateway.chat(self.chat_id).submit_tool_result(
            frame.tool_call_id, frame.output, error=frame.error
        )
        return {"turn": turn}

    async def _approval(self, frame: ApprovalFrame) -> dict[str, Any]:
        await self._visible_to_caller()
        chat = self.gateway.chat(self.chat_id)
        if frame.type == "approve":
            return {"turn": await chat.approve(frame.approval_id)}
        return {"turn": await chat.deny(frame.approval_id, frame.reason)}

    async def _resume(self, frame: ResumeFrame) -> dict[str, Any]:
        """Follow again after `last_event_id`: the frames after this ack are what follows it."""
        cursor = check_cursor(frame.last_event_id)
        if not self._visible:
            await self._visible_to_caller()
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(BaseException):
                await self._follower
        self._out = deque((f, event_id) for f, event_id in self._out if event_id is None)
        self.cursor = cursor
        # The new follower's first frame needs a Redis read: the ack, queued as this returns,
        # comes before it.
        self._start_following()
        return {"after": cursor}

    async def _ping(self, frame: PingFrame) -> None:
        return None


def _message(message: str | UIMessage, message_id: str | None) -> str | UIMessage:
    if isinstance(message, UIMessage) and message_id is not None:
        raise ApiError(422, INVALID, "message_id: give it inside the UIMessage", ["message_id"])
    return message


def _invalid(frame_id: Any, exc: ValidationError) -> dict[str, Any]:
    fields: list[str] = []
    problems: list[str] = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "frame"
        if err.get("type") == "extra_forbidden":
            problems.append(f"{where}: unknown field")
        else:
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        if where not in fields:
            fields.append(where)
    return _error_frame(frame_id, INVALID, "; ".join(problems[:10]), fields)
