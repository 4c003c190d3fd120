"""`WebSocketBackend`: a chat through an agentchat gateway's WebSocket session.

One socket per `AgentChat` (`GET /v1/chats/{id}/ws`) carries the input (`message`, `trigger`,
`steer`, `stop`, `tool_result`, `approve`/`deny`) and the chat's events; each `send_message`
(and `trigger`) stream is
fed from it and reads with the same `ChatStream` as every other backend. A dropped socket is
reopened with `?last_event_id=` the last event it delivered, so a stream misses nothing and
sees nothing twice, whichever replica answers. The reads that are not streams (`history`,
`status`, `info`, ...), `preload`, `close` and `reconnect()` go over HTTP, as `HttpBackend`'s.

The socket opens on first use and closes itself once nothing has used it for `linger`
seconds; it reconnects on its own only while a stream or a request waits on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from agentchat.client._backend import StreamFactory
from agentchat.client._http import BaseUrl, HttpBackend, HttpSource, _mapped, _origin
from agentchat.errors import (
    AgentChatError,
    ConfigurationError,
    GatewayUnavailableError,
)
from agentchat.protocol.contracts import (
    ApprovalInput,
    SendAck,
    SendInput,
    StopAck,
    StopInput,
    ToolResultAck,
    ToolResultInput,
)
from agentchat.protocol.triggers import trigger_of
from agentchat.stream._reader import ChatStream, _Follow
from agentchat.stream._store import Entry, id_tuple

__all__ = ["WebSocketBackend"]

log = logging.getLogger("agentchat.client")

_POLICY = 1008
"""The gateway refused the session (credentials, scope): reconnecting would not help."""
_REQUEST_TIMEOUT = 60.0
_MAX_BACKOFF = 2.0
_RESENDABLE = frozenset({"message", "trigger", "steer"})
"""Frames a reconnect may send again: their message (or trigger) id makes a second delivery a
no-op."""


class WebSocketBackend(HttpBackend):
    """One chat through an agentchat gateway, its input and streams over one WebSocket.

    Args:
        chat_id: The chat this backend serves.
        base_url: The gateway's URL (`http(s)://`), or a callable picking one per endpoint;
            the socket uses the `stream` endpoint's.
        streams: Builds the streams this backend returns.
        api_key: The gateway API key.
        token: A chat, user or session token minted by the gateway; preferred over `api_key`.
        http_client: The `httpx.AsyncClient` for the HTTP calls.
        headers: Extra headers sent with every request and the socket's handshake.
        inputs: The chat's inputs, sent with its messages and triggers (a new chat's).
        linger: Seconds an unused socket stays open.

    Raises:
        ConfigurationError: The `http` extra (`websockets`, `httpx-sse`) is not installed.
    """

    def __init__(
        self,
        chat_id: str,
        base_url: BaseUrl,
        *,
        streams: StreamFactory,
        api_key: str | None = None,
        token: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
        inputs: dict[str, Any] | None = None,
        linger: float = 30.0,
    ) -> None:
        try:
            import websockets  # noqa: F401  (an optional extra: fail here, not on first use)
        except ImportError:
            raise ConfigurationError(
                "AgentChat(transport='ws') needs the http extra: pip install 'agentchat[http]'"
            ) from None
        super().__init__(
            chat_id,
            base_url,
            streams=streams,
            api_key=api_key,
            token=token,
            http_client=http_client,
            headers=headers,
            inputs=inputs,
        )
        self.socket = _Socket(self, linger)

    def ws_url(self) -> str:
        url = self.url("stream", "/ws")
        if url.startswith("https://"):
            return "wss://" + url[len("https://") :]
        if url.startswith("http://"):
            return "ws://" + url[len("http://") :]
        return url

    async def aclose(self) -> None:
        """Close the socket now (it would close itself after `linger` seconds unused)."""
        await self.socket.aclose()

    # -- over the socket ----------------------------------------------------------------------

    async def send(self, request: SendInput) -> tuple[SendAck, ChatStream]:
        message = request.message
        frame = {
            "type": "message",
            "agent": request.agent,
            "message": message.model_dump(mode="json", exclude_none=True),
            "client_data": request.client_data,
        }
        return await self._start_turn(frame, message.id)

    async def trigger(self, request: SendInput) -> tuple[SendAck, ChatStream]:
        found = trigger_of(request.message)
        assert found is not None, "AgentChat.trigger builds the carrier"
        frame = {
            "type": "trigger",
            "name": found[0],
            "agent": request.agent,
            "input": found[1],
            "trigger_id": request.message.id,
            "client_data": request.client_data,
        }
        return await self._start_turn(frame, request.message.id)

    async def _start_turn(
        self, frame: dict[str, Any], message_id: str
    ) -> tuple[SendAck, ChatStream]:
        """Send a frame that starts a turn (`message`, `trigger`); stream that turn."""
        if self.inputs is not None:
            frame["inputs"] = self.inputs
        source = await self.socket.subscribe()
        try:
            accepted = await self.socket.request(frame)
        except BaseException:
            source.release_now()
            raise
        ack = SendAck(
            chat_id=self.chat_id,
            message_id=str(accepted["message_id"]),
            run_id=str(accepted["run_id"]),
            duplicate=bool(accepted.get("duplicate")),
            turn=accepted.get("turn"),
            new_run=bool(accepted.get("new_run")),
        )
        after = str(accepted.get("after") or "0-0")
        follow = _Follow(user_message_id=message_id, turn=ack.turn if ack.duplicate else None)
        if ack.duplicate:
            # The original turn may be long past what the socket delivers: read it over HTTP.
            source.release_now()
            return ack, self._stream(HttpSource(self), after, follow)
        # No probe: the socket forwards the stream as it is (a turn that lost records ends
        # with what arrived; `history()` has it whole).
        return ack, self._streams(source, after, follow, None)

    async def steer(self, request: SendInput) -> SendAck:
        frame = {
            "type": "steer",
            "agent": request.agent,
            "message": request.message.model_dump(mode="json", exclude_none=True),
        }
        answer = await self.socket.request(frame)
        return SendAck(chat_id=self.chat_id, **{k: v for k, v in answer.items() if k != "after"})

    async def stop(self, request: StopInput) -> StopAck:
        frame = {"type": "stop", **request.model_dump(mode="json", exclude_none=True)}
        answer = await self.socket.request(frame)
        return StopAck(turn=answer["turn"] if answer else None)

    async def submit_tool_result(self, request: ToolResultInput) -> ToolResultAck:
        frame = {"type": "tool_result", **request.model_dump(mode="json")}
        return ToolResultAck.model_validate(await self.socket.request(frame))

    async def answer_approval(self, request: ApprovalInput) -> ToolResultAck:
        frame = {
            "type": "approve" if request.approved else "deny",
            "approval_id": request.approval_id,
        }
        if not request.approved and request.reason is not None:
            frame["reason"] = request.reason
        return ToolResultAck.model_validate(await self.socket.request(frame))


class _Pending:
    """A frame sent (or to send) and the future its answer resolves."""

    def __init__(self, future: asyncio.Future[Any], frame: dict[str, Any]) -> None:
        self.future = future
        self.frame = frame
        self.sent = False


class WsSource:
    """Feeds one `ChatStream` from the socket: every event delivered since it subscribed."""

    def __init__(self, socket: _Socket) -> None:
        self.socket = socket
        self._queue: asyncio.Queue[Entry] = asyncio.Queue()
        self.failed: BaseException | None = None

    @property
    def unavailable_error(self) -> type[Exception]:
        return GatewayUnavailableError

    def deliver(self, entry: Entry) -> None:
        self._queue.put_nowait(entry)

    def fail(self, error: BaseException) -> None:
        self.failed = error
        self._queue.put_nowait(Entry("", {}))  # wakes a waiting read

    async def read(
        self, chat_id: str, after: str, *, block_ms: int, count: int = 500
    ) -> list[Entry]:
        try:
            items = [await asyncio.wait_for(self._queue.get(), block_ms / 1000)]
        except TimeoutError:
            return []
        while not self._queue.empty() and len(items) < count:
            items.append(self._queue.get_nowait())
        if self.failed is not None:
            raise self.failed
        floor = id_tuple(after)
        return [entry for entry in items if entry.id and id_tuple(entry.id) > floor]

    async def trimmed_before(self, chat_id: str) -> str | None:
        return None  # the gateway sends `resync`; a stream follows its turn by correlation

    async def release(self) -> None:
        self.release_now()

    def release_now(self) -> None:
        self.socket.unsubscribe(self)


class _Socket:
    """The one WebSocket of a backend: connects on demand, dispatches frames, reconnects."""

    def __init__(self, backend: WebSocketBackend, linger: float) -> None:
        self.backend = backend
        self.linger = linger
        self.position: str | None = None
        """The last event id delivered: a reconnect resumes after it."""
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._subscribers: set[WsSource] = set()
        self._lock: asyncio.Lock | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._closing = False
        self._closer: asyncio.Future[None] | None = None

    # -- use ----------------------------------------------------------------------------------

    async def subscribe(self) -> WsSource:
        await self.keep_open()
        source = WsSource(self)
        self._subscribers.add(source)
        self._touch()
        return source

    def unsubscribe(self, source: WsSource) -> None:
        self._subscribers.discard(source)
        self._touch()

    async def request(self, frame: dict[str, Any]) -> Any:
        """Send a frame and wait for its `ack` (its result) or `error` (raised)."""
        await self.keep_open()
        frame_id = next(self._ids)
        frame = {**frame, "id": frame_id}
        pending = _Pending(asyncio.get_running_loop().create_future(), frame)
        self._pending[frame_id] = pending
        try:
            await self._send(pending)
            return await asyncio.wait_for(asyncio.shield(pending.future), _REQUEST_TIMEOUT)
        except TimeoutError:
            raise GatewayUnavailableError(
                f"the gateway did not answer a {frame['type']!r} frame within {_REQUEST_TIMEOUT:g}s"
            ) from None
        finally:
            self._pending.pop(frame_id, None)
            self._touch()

    async def keep_open(self) -> None:
        """Connect unless connected or reconnecting (raising what refused it)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            # A live reader task is either reading or reconnecting (`_recover`).
            if self._reader is None or self._reader.done():
                self._closing = False
                await self._connect()

    async def aclose(self) -> None:
        self._closing = True
        if self._idle is not None:
            self._idle.cancel()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
            self._reader = None
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
            self._ws = None

    # -- connecting ---------------------------------------------------------------------------

    async def _connect(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, InvalidURI

        url = self.backend.ws_url()
        params = {"last_event_id": self.position} if self.position else {"from": "live"}
        url = f"{url}?{httpx.QueryParams(params)}"
        try:
            ws = await connect(
                url,
                additional_headers=self.backend._headers,
                max_size=16 * 1024 * 1024,
                open_timeout=30,
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            raise GatewayUnavailableError(
                f"cannot open the gateway's WebSocket at {_origin(self.backend.url('stream'))}:"
                f" {type(exc).__name__}: {exc}"
            ) from None
        try:
            first = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
        except Exception as exc:
            await ws.close()
            raise GatewayUnavailableError(f"the gateway's WebSocket ended at once: {exc}") from None
        if first.get("type") != "ready":
            await ws.close()
            if first.get("type") == "error":
                raise _mapped(first.get("error") or {})
            if first.get("type") == "reconnect":  # a draining replica: try again
                raise GatewayUnavailableError("the gateway is draining; reconnect")
            raise GatewayUnavailableError(f"unexpected first frame {first.get('type')!r}")
        if self.position is None:
            self.position = first.get("after")
        self._ws = ws
        self._reader = asyncio.create_task(self._read(ws))

    async def _send(self, pending: _Pending) -> None:
        from websockets.exceptions import ConnectionClosed

        ws = self._ws
        if ws is None:
            return  # reconnecting: sent once connected
        pending.sent = True
        # Closed: the reader notices and reconnects; the request is resent or failed then.
        with contextlib.suppress(ConnectionClosed):
            await ws.send(orjson.dumps(pending.frame).decode())

    # -- receiving ----------------------------------------------------------------------------

    async def _read(self, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        refused: AgentChatError | None = None
        try:
            async for raw in ws:
                frame = orjson.loads(raw)
                kind = frame.get("type")
                if kind == "event":
                    self._event(frame)
                elif kind in ("ack", "pong", "error"):
                    if kind == "error" and frame.get("id") is None:
                        refused = _mapped(frame.get("error") or {})
                    self._answer(frame)
                elif kind == "reconnect":
                    log.info("chat %s: the gateway asks to reconnect", self.backend.chat_id)
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure: reconnect as for a drop
            log.warning("chat %s: WebSocket read failed: %s", self.backend.chat_id, exc)
        code = ws.close_code
        self._ws = None
        if self._closing:
            return
        if code == _POLICY:
            self._fail(refused or GatewayUnavailableError("the gateway closed the session"))
            return
        await self._recover()

    def _event(self, frame: dict[str, Any]) -> None:
        entry_id = frame.get("id")
        if not entry_id:
            return  # resync: the streams follow their turns by correlation
        if self.position is not None and id_tuple(entry_id) <= id_tuple(self.position):
            return  # seen before a resume
        self.position = entry_id
        entry = Entry(entry_id, frame.get("event") or {})
        for source in list(self._subscribers):
            source.deliver(entry)

    def _answer(self, frame: dict[str, Any]) -> None:
        frame_id = frame.get("id")
        pending = self._pending.get(frame_id) if isinstance(frame_id, int) else None
        if pending is None or pending.future.done():
            return
        future = pending.future
        if frame["type"] == "error":
            future.set_exception(_mapped(frame.get("error") or {}))
        else:
            future.set_result(frame.get("result"))

    async def _recover(self) -> None:
        """Reconnect after a drop while anything waits; resend what may be resent."""
        backoff = 0.1
        while self._in_use() and not self._closing:
            try:
                await self._connect()
            except AgentChatError as exc:
                if isinstance(exc, GatewayUnavailableError):
                    log.info("chat %s: reconnecting: %s", self.backend.chat_id, exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF)
                    continue
                self._fail(exc)  # refused now (an expired token, say)
                return
            for pending in list(self._pending.values()):
                if pending.future.done():
                    continue
                if not pending.sent or pending.frame["type"] in _RESENDABLE:
                    await self._send(pending)
                else:
                    pending.future.set_exception(
                        GatewayUnavailableError(
                            f"the connection dropped before the gateway answered the"
                            f" {pending.frame['type']!r} frame; it may have been applied"
                        )
                    )
            return

    def _fail(self, error: BaseException) -> None:
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(error)
        for source in list(self._subscribers):
            source.fail(error)

    # -- lifetime -----------------------------------------------------------------------------

    def _in_use(self) -> bool:
        return bool(self._subscribers or self._pending)

    def _touch(self) -> None:
        """Close the socket `linger` seconds after its last use."""
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if not self._in_use():
            loop = asyncio.get_running_loop()
            self._idle = loop.call_later(self.linger, self._close_if_idle)

    def _close_if_idle(self) -> None:
        if not self._in_use() and self._ws is not None:
            self._closing = True
            self._closer = asyncio.ensure_future(self._ws.close())
