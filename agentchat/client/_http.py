"""`HttpBackend`: a chat through an agentchat gateway instead of Temporal and Redis.

The gateway streams a turn's raw stream entries (native SSE dialect), so the same `ChatStream`
reads them: correlation, attempt resets and the transcript fallback behave exactly as with the
direct backend. A dropped connection is resumed with `Last-Event-ID` on any replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx
import orjson

from agentchat.client._backend import StreamFactory
from agentchat.errors import (
    AgentChatError,
    AuthenticationError,
    ChatNotFoundError,
    ConfigurationError,
    GatewayUnavailableError,
    PermissionDeniedError,
    error_from_application_type,
)
from agentchat.protocol.contracts import (
    ApprovalInput,
    ChatStatus,
    CloseInput,
    DeleteChatResult,
    PreloadAck,
    PreloadInput,
    SendAck,
    SendInput,
    StopAck,
    StopInput,
    ToolResultAck,
    ToolResultInput,
)
from agentchat.protocol.directory import ChatInfo
from agentchat.protocol.envelope import ACCEPTED, ERROR, RESYNC, kind_of
from agentchat.protocol.messages import UIMessage
from agentchat.protocol.triggers import trigger_of
from agentchat.stream._reader import ChatStream, _Follow
from agentchat.stream._store import Entry

__all__ = ["BaseUrl", "HttpBackend"]

BaseUrl = str | Callable[[str, str], str]
"""The gateway's URL, or `(endpoint, chat_id) -> URL` with endpoint one of `messages`,
`stream` (turn streams), `control` (steer, stop, close, preload, answers) and `chat` (reads)."""

_END = object()
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def _shared_client() -> httpx.AsyncClient:
    """One connection pool per event loop, shared by every `AgentChat` that brings none."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None))
        _clients[loop] = client
    return client


class HttpBackend:
    """One chat through an agentchat gateway's HTTP API.

    Args:
        chat_id: The chat this backend serves.
        base_url: The gateway's URL, or a callable picking one per endpoint (`BaseUrl`).
        streams: Builds the streams this backend returns.
        api_key: The gateway API key.
        token: A chat token minted by the gateway; preferred over `api_key`.
        http_client: The `httpx.AsyncClient` to use; by default one shared per event loop.
        headers: Extra headers sent with every request.

    Raises:
        ConfigurationError: The `http` extra (`httpx-sse`) is not installed.
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
    ) -> None:
        try:
            import httpx_sse  # noqa: F401  (an optional extra: fail here, not mid-stream)
        except ImportError:
            raise ConfigurationError(
                "AgentChat(base_url=...) needs the http extra: pip install 'agentchat[http]'"
            ) from None
        self.chat_id = chat_id
        self.inputs = inputs
        self._base_url = base_url
        self._streams = streams
        self._client = http_client
        self._headers = dict(headers or {})
        credential = token or api_key
        if credential:
            self._headers.setdefault("Authorization", f"Bearer {credential}")

    # -- plumbing -----------------------------------------------------------------------------

    def url(self, endpoint: str, path: str = "") -> str:
        base = self._base_url
        root = base(endpoint, self.chat_id) if callable(base) else base
        return f"{root.rstrip('/')}/v1/chats/{self.chat_id}{path}"

    @property
    def client(self) -> httpx.AsyncClient:
        return self._client or _shared_client()

    async def _call(self, method: str, endpoint: str, path: str, body: Any = None) -> Any:
        url = self.url(endpoint, path)
        try:
            response = await self.client.request(
                method, url, json=body, headers=self._headers, timeout=httpx.Timeout(60.0)
            )
        except httpx.HTTPError as exc:
            raise GatewayUnavailableError(
                f"cannot reach the gateway at {_origin(url)}: {type(exc).__name__}: {exc}"
            ) from None
        if response.status_code == 204:
            return None
        if response.status_code >= 400:
            raise _error(response.status_code, response.content, url)
        return response.json()

    async def _open_stream(
        self, method: str, endpoint: str, path: str, *, body: Any = None, after: str | None = None
    ) -> httpx.Response | None:
        """Open an SSE response; None for `204` (nothing to follow)."""
        url = self.url(endpoint, path)
        headers = {**self._headers, "Accept": "text/event-stream"}
        if after is not None:
            headers["Last-Event-ID"] = after
        request = self.client.build_request(method, url, json=body, headers=headers)
        response = await self.client.send(request, stream=True)
        if response.status_code == 204:
            await response.aclose()
            return None
        if response.status_code >= 400:
            content = await response.aread()
            await response.aclose()
            raise _error(response.status_code, content, url)
        return response

    def _stream(self, source: HttpSource, after: str, follow: _Follow) -> ChatStream:
        # No probe: the gateway asks the workflow itself and sends `settled`.
        stream = self._streams(source, after, follow, None)
        source.stream = stream  # a reopened connection asks for the turn the stream follows
        return stream

    # -- operations ---------------------------------------------------------------------------

    async def send(self, request: SendInput) -> tuple[SendAck, ChatStream]:
        message = request.message
        body = {
            "agent": request.agent,
            "message": message.model_dump(mode="json", exclude_none=True),
            "client_data": request.client_data,
        }
        if self.inputs is not None:
            body["inputs"] = self.inputs
        return await self._turn("/messages", body, message.id)

    async def trigger(self, request: SendInput) -> tuple[SendAck, ChatStream]:
        found = trigger_of(request.message)
        assert found is not None, "AgentChat.trigger builds the carrier"
        body: dict[str, Any] = {
            "agent": request.agent,
            "input": found[1],
            "trigger_id": request.message.id,
            "client_data": request.client_data,
        }
        if self.inputs is not None:
            body["inputs"] = self.inputs
        return await self._turn(f"/triggers/{found[0]}", body, request.message.id)

    async def resources(self) -> dict[str, Any]:
        answer = await self._call("GET", "chat", "/resources")
        return dict(answer["resources"]) if answer else {}

    async def _turn(
        self, path: str, body: dict[str, Any], message_id: str
    ) -> tuple[SendAck, ChatStream]:
        """Post input that starts a turn; the answer is the SSE stream of that turn."""
        try:
            response = await self._open_stream("POST", "messages", path, body=body)
        except httpx.HTTPError as exc:
            raise GatewayUnavailableError(
                f"cannot reach the gateway at {_origin(self.url('messages'))}: {exc}"
            ) from None
        assert response is not None
        source = HttpSource(self)
        events = source.attach(response)
        accepted = await source.first(events)
        ack = SendAck(
            chat_id=self.chat_id,
            message_id=str(accepted["message_id"]),
            run_id=str(accepted["run_id"]),
            duplicate=bool(accepted.get("duplicate")),
            turn=accepted.get("turn"),
            new_run=bool(accepted.get("new_run")),
        )
        follow = _Follow(user_message_id=message_id, turn=ack.turn if ack.duplicate else None)
        return ack, self._stream(source, str(accepted["after"]), follow)

    async def steer(self, request: SendInput) -> SendAck:
        # The gateway's steer route takes no client data (its `SteerBody` has none).
        body = {"agent": request.agent, "message": request.message.model_dump(mode="json")}
        answer = await self._call("POST", "control", "/steer", body)
        return SendAck(chat_id=self.chat_id, **{k: v for k, v in answer.items() if k != "after"})

    async def stop(self, request: StopInput) -> StopAck:
        answer = await self._call(
            "POST", "control", "/stop", request.model_dump(mode="json", exclude_none=True)
        )
        return StopAck(turn=answer["turn"] if answer else None)

    async def close(self, request: CloseInput, *, wait: bool) -> None:
        await self._call("POST", "control", "/close", {"wait": wait})

    async def preload(self, request: PreloadInput) -> PreloadAck:
        answer = await self._call("POST", "control", "/preload", request.model_dump(mode="json"))
        return PreloadAck.model_validate(answer)

    async def submit_tool_result(self, request: ToolResultInput) -> ToolResultAck:
        body = request.model_dump(mode="json")
        return ToolResultAck.model_validate(
            await self._call("POST", "control", "/tool-results", body)
        )

    async def answer_approval(self, request: ApprovalInput) -> ToolResultAck:
        body = {"approved": request.approved, "reason": request.reason}
        path = f"/approvals/{request.approval_id}"
        return ToolResultAck.model_validate(await self._call("POST", "control", path, body))

    async def reconnect(self, cursor: str | None) -> ChatStream:
        source = HttpSource(self)
        try:
            response = await self._open_stream("GET", "stream", "/turn", after=cursor)
        except httpx.HTTPError as exc:
            raise GatewayUnavailableError(f"cannot reach the gateway: {exc}") from None
        if response is None:
            return self._stream(source, cursor or "0-0", _Follow(turn=-1))
        source.attach(response)
        return self._stream(source, cursor or "0-0", _Follow())

    async def open_stream(self, after: str, follow: _Follow) -> ChatStream:
        # Nothing is opened yet: the stream's first read asks the gateway for the followed
        # turn after `after`, as a resume after a dropped connection does.
        return self._stream(HttpSource(self), after, follow)

    async def _view(self) -> dict[str, Any] | None:
        try:
            view: dict[str, Any] = await self._call("GET", "chat", "")
        except AgentChatError as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise
        return view

    async def history(self) -> list[UIMessage]:
        view = await self._view()
        return [UIMessage.model_validate(m) for m in view["messages"]] if view else []

    async def thread(self, name: str) -> list[UIMessage]:
        answer = await self._call("GET", "chat", f"/threads/{name}")
        return [UIMessage.model_validate(m) for m in answer["messages"]] if answer else []

    async def status(self) -> ChatStatus | None:
        view = await self._view()
        return ChatStatus.model_validate(view["status"]) if view else None

    async def info(self) -> ChatInfo:
        view = await self._view()
        if not view or not view.get("chat"):
            raise ChatNotFoundError(f"no chat {self.chat_id!r}")
        return ChatInfo.model_validate(view["chat"])

    async def update(
        self,
        *,
        title: str | None = None,
        archived: bool | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ChatInfo:
        changes = {"title": title, "archived": archived, "metadata": metadata}
        body = {k: v for k, v in changes.items() if v is not None}
        return ChatInfo.model_validate(await self._call("PATCH", "chat", "", body))

    async def delete(self, *, wait: bool) -> DeleteChatResult | None:
        path = "" if wait else "?wait=false"
        result = await self._call("DELETE", "chat", path)
        return DeleteChatResult.model_validate(result) if wait else None


class HttpSource:
    """Feeds a `ChatStream` from the gateway's SSE; reopens after the last id when it drops."""

    def __init__(self, transport: HttpBackend) -> None:
        self.transport = transport
        self.stream: ChatStream | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self._position: str | None = None

    @property
    def unavailable_error(self) -> type[Exception]:
        return GatewayUnavailableError

    def attach(self, response: httpx.Response) -> AsyncIterator[Any]:
        from httpx_sse import EventSource

        events = EventSource(response).aiter_sse()
        self._response = response
        return events

    async def first(self, events: AsyncIterator[Any]) -> dict[str, Any]:
        """Read the `accepted` event of a send, then keep pumping the rest in the background."""
        async for sse in events:
            if sse.data:
                envelope: dict[str, Any] = orjson.loads(sse.data)
                if kind_of(envelope) == ERROR:
                    raise _mapped(envelope)
                self._position = sse.id or None
                self._start(events)
                return envelope
        raise GatewayUnavailableError("the gateway ended the stream before accepting the message")

    def _start(self, events: AsyncIterator[Any]) -> None:
        self._pump = asyncio.create_task(self._run(events, self._response))

    async def _run(self, events: AsyncIterator[Any], response: httpx.Response) -> None:
        try:
            async for sse in events:
                if sse.data:
                    await self._queue.put(Entry(sse.id, orjson.loads(sse.data)))
            await self._queue.put(_END)
        except Exception as exc:
            await self._queue.put(exc)
        finally:
            with contextlib.suppress(Exception):
                await response.aclose()

    async def read(
        self, chat_id: str, after: str, *, block_ms: int, count: int = 500
    ) -> list[Entry]:
        if self._pump is None or self._position != after:
            await self._reopen(after)
        try:
            items = [await asyncio.wait_for(self._queue.get(), block_ms / 1000)]
        except TimeoutError:
            return []
        while not self._queue.empty() and len(items) < count:
            items.append(self._queue.get_nowait())
        entries: list[Entry] = []
        for item in items:
            if item is _END or isinstance(item, BaseException):
                self._pump = None  # the next read reopens after the last id
                if entries:
                    return entries
                raise ConnectionError(f"the gateway stream ended: {item!r}"[:200])
            kind = kind_of(item.envelope)
            if kind == "error":
                raise _mapped(item.envelope)
            if kind in (ACCEPTED, RESYNC):
                continue
            if item.id:
                self._position = item.id
            entries.append(item)
        return entries

    async def trimmed_before(self, chat_id: str) -> str | None:
        # Retention and lost turns are the gateway's business: it sends `settled` instead.
        return None

    async def _reopen(self, after: str) -> None:
        await self.aclose()
        stream = self.stream
        follow = stream._follow if stream is not None else _Follow()
        turn = stream.turn if stream is not None and stream.turn is not None else follow.turn
        params: dict[str, str | int] = {}
        if follow.user_message_id:
            params["message_id"] = follow.user_message_id
        if turn is not None and turn > 0:
            params["turn"] = turn
        path = f"/turn?{httpx.QueryParams(params)}" if params else "/turn"
        try:
            response = await self.transport._open_stream("GET", "stream", path, after=after)
        except httpx.HTTPError as exc:
            raise ConnectionError(f"cannot reach the gateway: {exc}") from exc
        if response is None:
            raise ConnectionError("the gateway has no turn to follow")
        self._queue = asyncio.Queue()
        self._position = after
        self._start(self.attach(response))

    async def release(self) -> None:
        """Close the connection: the stream is done with it."""
        await self.aclose()

    async def aclose(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(BaseException):
                await self._pump
            self._pump = None


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")


def _mapped(envelope: Mapping[str, Any]) -> AgentChatError:
    type_name = str(envelope.get("type", ""))
    message = str(envelope.get("message", "the gateway reported an error"))
    return error_from_application_type(type_name, message) or AgentChatError(message)


def _error(status: int, content: bytes, url: str) -> AgentChatError:
    try:
        detail = orjson.loads(content)["error"]
        type_name, message = str(detail.get("type", "")), str(detail.get("message", ""))
    except Exception:
        type_name, message = "", content[:200].decode(errors="replace")
    error = error_from_application_type(type_name, message)
    if error is None:
        if status == 401:
            error = AuthenticationError(message)
        elif status == 403:
            error = PermissionDeniedError(message)
        elif status >= 500:
            error = GatewayUnavailableError(f"the gateway at {_origin(url)} failed: {message}")
        else:
            error = AgentChatError(f"{type_name or status}: {message}")
    error.status = status  # type: ignore[attr-defined]
    return error


async def gateway_get(
    base_url: str,
    path: str,
    params: dict[str, str],
    credential: str | None,
    http_client: httpx.AsyncClient | None = None,
) -> Any:
    """GET a gateway route that belongs to no one chat (the directory), as JSON."""
    url = f"{base_url.rstrip('/')}{path}"
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
    try:
        response = await (http_client or _shared_client()).get(
            url, params=params, headers=headers, timeout=httpx.Timeout(60.0)
        )
    except httpx.HTTPError as exc:
        raise GatewayUnavailableError(
            f"cannot reach the gateway at {_origin(url)}: {type(exc).__name__}: {exc}"
        ) from None
    if response.status_code >= 400:
        raise _error(response.status_code, response.content, url)
    return response.json()
