"""`AgentChat`: the client for one chat, used from scripts, webhooks and other agents' tools.

`AgentChat` checks arguments, builds the contract models and keeps the caller's state; a
`ChatBackend` picked at construction carries them: `DirectBackend` (Temporal and Redis) or
`HttpBackend` (an agentchat gateway).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import httpx
from pydantic import ValidationError

from agentchat.client._backend import ChatBackend, Probe
from agentchat.client._direct import DirectBackend
from agentchat.client._files import FileInput, Files, files_for
from agentchat.client._http import BaseUrl, HttpBackend
from agentchat.client._ws import WebSocketBackend
from agentchat.errors import InvalidMessageError, InvalidTriggerError
from agentchat.protocol.contracts import (
    ApprovalInput,
    ChatStatus,
    CloseInput,
    DeleteChatResult,
    PreloadAck,
    PreloadInput,
    SendAck,
    SendInput,
    StopInput,
    ToolResultInput,
)
from agentchat.protocol.directory import ChatInfo
from agentchat.protocol.identifiers import (
    ID_CHARACTERS,
    MAX_AGENT_NAME_LENGTH,
    MAX_CHAT_ID_LENGTH,
    is_agent_name,
    is_chat_id,
)
from agentchat.protocol.limits import check_user_message
from agentchat.protocol.messages import UIMessage, user_message
from agentchat.protocol.triggers import trigger_message
from agentchat.settings import Settings
from agentchat.stream._reader import ChatStream, EntrySource, _Follow
from agentchat.stream._store import check_cursor
from agentchat.triggers import MAIN_THREAD
from agentchat.workflows.chat import workflow_id_for

__all__ = ["AgentChat", "ChatSession"]


@dataclass
class ChatSession:
    """What a stateless caller persists between requests to resume a chat's stream."""

    last_event_id: str | None = None


class AgentChat:
    """A conversation with an agent, keyed by its chat id.

    Args:
        agent: The agent's name, as a worker serves it.
        id: The chat id; a new uuid4 by default. Letters, digits and `_.:-`, at most 200.
        client_data: JSON data delivered to the agent with every message of this client.
        session: Resume state; `session.last_event_id` is kept current as streams are read.
        on_triggered: Called with the run id when a message starts a new workflow run.
        on_turn_complete: Called with a turn's last event id when a stream finishes it, so a
            stateless handler can persist the cursor.
        stream_timeout: Seconds of complete silence after which a stream gives up.
        accept_timeout: Seconds to wait for a worker to accept input before raising
            `NoWorkerError` (no worker polls the queue) or `TemporalUnavailableError`.
        settings: Connection settings; by default from the `AGENTCHAT_*` environment.
        temporal_address, namespace, task_queue, redis_url: Override single settings.
        base_url: Talk to an agentchat gateway over HTTP instead of Temporal and Redis
            (default `AGENTCHAT_URL`). A callable `(endpoint, chat_id) -> url` picks a base
            URL per endpoint: `messages`, `stream`, `control` or `chat`.
        api_key: The gateway API key (default `AGENTCHAT_API_KEY`).
        token: A chat token minted by the gateway, instead of an API key.
        http_client: The `httpx.AsyncClient` to use (proxies, custom transports, timeouts).
        headers: Extra headers sent with every gateway request.
        transport: How to reach the gateway at `base_url`: `"http"` (default: a request per
            operation, a Server-Sent Events answer per stream) or `"ws"` (one WebSocket per
            `AgentChat` carries the input and the streams, resumed after a drop; reads such
            as `history()` stay HTTP requests). Needs `base_url` (or `AGENTCHAT_URL`).
        owner: Act for this owner (a user id of your application). A new chat belongs to
            them for good; any other owner's chat is refused with `ChatNotFoundError`, as if
            it did not exist. None acts for every owner (a backend's own calls).
        parent: The chat that delegates to this one (as `agent_tool` does): deleting the
            parent deletes this chat too, and the directory does not list it.
        inputs: The chat's inputs (`Agent(inputs=...)`), given when the chat starts: the
            worker checks them against the agent's before anything is queued (a missing or
            mistyped field is `InvalidInputsError`, naming it); the chat keeps them for life,
            so later clients of the chat need not give them again.
    """

    def __init__(
        self,
        agent: str,
        id: str | None = None,
        *,
        client_data: dict[str, Any] | None = None,
        session: ChatSession | None = None,
        on_triggered: Callable[[str], Awaitable[None] | None] | None = None,
        on_turn_complete: Callable[[str], Awaitable[None] | None] | None = None,
        stream_timeout: float = 120.0,
        accept_timeout: float = 15.0,
        settings: Settings | None = None,
        temporal_address: str | None = None,
        namespace: str | None = None,
        task_queue: str | None = None,
        redis_url: str | None = None,
        base_url: BaseUrl | None = None,
        api_key: str | None = None,
        token: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
        owner: str | None = None,
        parent: str | None = None,
        transport: Literal["http", "ws"] | None = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> None:
        self.id = id if id is not None else str(uuid.uuid4())
        if not is_chat_id(self.id):
            raise ValueError(
                f"chat id {self.id[:60]!r}: use 1-{MAX_CHAT_ID_LENGTH} {ID_CHARACTERS}"
            )
        if not agent:
            raise ValueError("agent must name an agent, e.g. AgentChat(agent='demo')")
        if not is_agent_name(agent):
            raise ValueError(
                f"agent name {agent[:60]!r}: use 1-{MAX_AGENT_NAME_LENGTH} letters, digits or '_.-'"
            )
        self.agent = agent
        self.owner = _checked_owner(owner)
        self.parent = parent
        self.client_data = client_data
        self.inputs = dict(inputs) if inputs is not None else None
        self.session = session if session is not None else ChatSession()
        self.on_triggered = on_triggered
        self.on_turn_complete = on_turn_complete
        self.stream_timeout = stream_timeout
        self.accept_timeout = timedelta(seconds=accept_timeout)
        self.settings = (settings or Settings()).with_overrides(
            temporal_address=temporal_address,
            temporal_namespace=namespace,
            task_queue=task_queue,
            redis_url=redis_url,
        )
        self.workflow_id = workflow_id_for(self.id)
        self._files: Files | None = None
        self.run_id: str | None = None
        """The workflow run this client last heard from."""
        url = base_url or self.settings.url
        self._backend: ChatBackend
        if _gateway_transport(transport, url) == "ws":
            assert url
            self._backend = WebSocketBackend(
                self.id,
                url,
                streams=self._stream,
                api_key=api_key or self.settings.api_key,
                token=token,
                http_client=http_client,
                headers=headers,
                inputs=self.inputs,
            )
        elif url:
            self._backend = HttpBackend(
                self.id,
                url,
                streams=self._stream,
                api_key=api_key or self.settings.api_key,
                token=token,
                http_client=http_client,
                headers=headers,
                inputs=self.inputs,
            )
        else:
            self._backend = DirectBackend(
                self.id,
                self.agent,
                self.settings,
                streams=self._stream,
                accept_timeout=self.accept_timeout,
                new_chat=id is None,
                owner=self.owner,
                parent=parent,
                inputs=self.inputs,
            )

    def __repr__(self) -> str:
        return f"AgentChat(agent={self.agent!r}, id={self.id!r})"

    # -- sending ------------------------------------------------------------------------------

    async def send_message(
        self,
        message: str | UIMessage,
        *,
        message_id: str | None = None,
        client_data: dict[str, Any] | None = None,
        files: Sequence[FileInput] | None = None,
    ) -> ChatStream:
        """Send a user message; returns once the chat durably accepted it.

        The returned stream carries exactly the turn this message causes, even when other
        turns run before it. Sending the same `message_id` again runs no second turn: it
        returns a stream of the original one.

        `files` are uploaded to the chat first and sent as `file` parts: paths, http(s)
        URLs (fetched here), bytes (type sniffed), `(bytes, media_type[, filename])`, or
        parts `upload()` returned. See docs/attachments.md.
        """
        if files:
            message = await self.files.with_files(message, message_id, files)
        msg = await self.files.check_refs(self._as_message(message, message_id))
        return await self._send(msg, client_data)

    async def upload(
        self, data: bytes, *, media_type: str | None = None, filename: str | None = None
    ) -> dict[str, Any]:
        """Store a file for this chat; returns its `file` part, to put in a message."""
        return await self.files.uploader.upload(data, media_type, filename)

    @property
    def files(self) -> Files:
        """How this client uploads files and checks the ones its messages refer to."""
        if self._files is None:
            self._files = files_for(self, self._backend)
        return self._files

    async def send_raw(
        self,
        messages: Sequence[UIMessage | dict[str, Any]],
        *,
        client_data: dict[str, Any] | None = None,
    ) -> ChatStream:
        """Send AI SDK `UIMessage`s, as `useChat` posts them: only the newest is used.

        The conversation's history lives in the workflow, so earlier messages are ignored.
        """
        if not messages:
            raise InvalidMessageError("send_raw(messages): the list is empty")
        last = messages[-1]
        try:
            message = last if isinstance(last, UIMessage) else UIMessage.model_validate(last)
        except ValidationError as exc:
            raise InvalidMessageError(f"send_raw(messages)[-1] is not a UIMessage: {exc}") from None
        message = await self.files.inline(message, "send_raw(messages)[-1]")
        check_user_message(message, where="send_raw(messages)[-1]")
        return await self._send(await self.files.check_refs(message), client_data)

    async def steer(self, message: str | UIMessage, *, message_id: str | None = None) -> SendAck:
        """Steer the running turn: injected at its next LLM step, else run as the next turn.

        Never dropped. Returns the acknowledgement (`injected` tells which of the two).
        """
        msg = await self.files.check_refs(self._as_message(message, message_id))
        req = SendInput(
            message=msg,
            agent=self.agent,
            client_data=self.client_data,
            kind="steer",
            owner=self.owner,
        )
        ack = await self._backend.steer(req)
        await self._note_run(ack)
        return ack

    def _as_message(self, message: str | UIMessage, message_id: str | None) -> UIMessage:
        if isinstance(message, UIMessage):
            msg = message
        elif isinstance(message, str):
            msg = user_message(message, message_id or f"msg-{uuid.uuid4()}")
        else:
            raise InvalidMessageError(
                f"message must be a str or UIMessage, got {type(message).__name__}"
            )
        check_user_message(msg)
        return msg

    async def _send(self, message: UIMessage, client_data: dict[str, Any] | None) -> ChatStream:
        data = client_data if client_data is not None else self.client_data
        ack, stream = await self._backend.send(
            SendInput(message=message, agent=self.agent, client_data=data, owner=self.owner)
        )
        stream.ack = ack
        await self._note_run(ack)
        return stream

    async def trigger(
        self,
        name: str,
        input: Mapping[str, Any] | None = None,
        *,
        trigger_id: str | None = None,
        client_data: dict[str, Any] | None = None,
    ) -> ChatStream:
        """Invoke one of the agent's triggers (`Agent(triggers=[Trigger(name, ...)])`).

        Queued, stopped and steered like a message; the returned stream carries exactly the
        trigger's turn. Sending the same `trigger_id` again runs no second turn.

        Raises:
            InvalidTriggerError: The agent has no such trigger, or `input` misses a field or
                has one of the wrong type (the message names it); nothing was queued.
        """
        if not is_agent_name(name):
            raise InvalidTriggerError(f"trigger name {name[:60]!r}: letters, digits or '_.-'")
        message = trigger_message(
            trigger_id or f"trg-{uuid.uuid4()}", name, dict(input) if input is not None else None
        )
        check_user_message(message, where="trigger")
        data = client_data if client_data is not None else self.client_data
        ack, stream = await self._backend.trigger(
            SendInput(
                message=message,
                agent=self.agent,
                client_data=data,
                kind="trigger",
                owner=self.owner,
            )
        )
        stream.ack = ack
        await self._note_run(ack)
        return stream

    async def resources(self) -> dict[str, Any]:
        """The chat's resources (name -> value): the running run's, else the stored ones.
        Empty for a chat that never started."""
        return await self._backend.resources()

    async def open_stream(self, cursor: str, follow: _Follow) -> ChatStream:
        """A stream of the followed turn after `cursor` (the gateway's resume route)."""
        return await self._backend.open_stream(cursor, follow)

    def _stream(
        self, source: EntrySource, after: str, follow: _Follow, probe: Probe | None
    ) -> ChatStream:
        """Every backend's streams: they report to this client's session and hooks."""

        def on_event(entry_id: str) -> None:
            self.session.last_event_id = entry_id

        return ChatStream(
            source,
            self.id,
            after=after,
            follow=follow,
            stream_timeout=self.stream_timeout,
            on_event=on_event,
            on_turn_complete=self.on_turn_complete,
            probe=probe,
        )

    async def _note_run(self, ack: SendAck) -> None:
        self.run_id = ack.run_id
        if ack.new_run and self.on_triggered is not None:
            outcome = self.on_triggered(ack.run_id)
            if outcome is not None:
                await outcome

    # -- control ------------------------------------------------------------------------------

    async def stop(self) -> int | None:
        """Stop the running turn; its partial answer stays in the transcript.

        Returns the stopped turn's number, or None when no turn was running (then nothing
        happens and nothing starts).
        """
        return (await self._backend.stop(StopInput())).turn

    async def close(self, *, wait: bool = False) -> None:
        """End the chat's workflow run after the current turn (and queued input).

        A message sent later starts a new run that continues the same conversation.
        With `wait`, return only once the run has ended.
        """
        await self._backend.close(CloseInput(), wait=wait)

    async def preload(self) -> PreloadAck:
        """Start the chat now and run the agent's preload hook, before any message."""
        ack = await self._backend.preload(
            PreloadInput(agent=self.agent, client_data=self.client_data, owner=self.owner)
        )
        self.run_id = ack.run_id
        return ack

    async def submit_tool_result(
        self, tool_call_id: str, output: Any = None, *, error: str | None = None
    ) -> int:
        """Answer a client tool call (its `tool-input-available` chunk named the id).

        Pass `error` instead of `output` to report that the call failed. The paused turn then
        continues. Returns the turn number; raises `NotPendingError` if no such call waits.
        """
        answer = ToolResultInput(tool_call_id=tool_call_id, output=output, error=error)
        return (await self._backend.submit_tool_result(answer)).turn

    async def approve(self, approval_id: str) -> int:
        """Approve a tool call announced by a `tool-approval-request` chunk."""
        decision = ApprovalInput(approval_id=approval_id, approved=True)
        return (await self._backend.answer_approval(decision)).turn

    async def deny(self, approval_id: str, reason: str | None = None) -> int:
        """Deny a tool call; the model is told, with `reason`."""
        decision = ApprovalInput(approval_id=approval_id, approved=False, reason=reason)
        return (await self._backend.answer_approval(decision)).turn

    # -- reading ------------------------------------------------------------------------------

    async def reconnect(self) -> ChatStream:
        """Resume reading: from `session.last_event_id` to the end of the turn it is in,
        or, with no cursor, the active turn from its start. Nothing missed, nothing twice.

        Raises `CursorTrimmedError` when the cursor is older than the retained stream; the
        conversation is then in `history()`. With no turn to follow the stream is empty.
        """
        cursor = self.session.last_event_id
        if cursor is not None:
            check_cursor(cursor)
        return await self._backend.reconnect(cursor)

    async def history(self, thread: str | None = None) -> list[UIMessage]:
        """The conversation as `UIMessage`s: what the chat store keeps plus the running turn,
        whether or not a workflow run is open.

        Args:
            thread: A named thread of the chat (`agentchat.triggers.StartThread`) instead of
                the main one: its messages as the chat keeps them (empty when never started).
        """
        if thread is not None and thread != MAIN_THREAD:
            if not is_agent_name(thread):
                raise ValueError(f"history(thread={thread!r}): letters, digits or '_.-'")
            return await self._backend.thread(thread)
        return await self._backend.history()

    # -- the chat's record --------------------------------------------------------------------

    async def info(self) -> ChatInfo:
        """The chat's record in the chat store: owner, title, metadata, times, turns.

        Raises:
            ChatNotFoundError: No such chat, or another owner's.
        """
        return await self._backend.info()

    async def rename(self, title: str) -> ChatInfo:
        """Set the chat's title (at most 200 characters)."""
        if not isinstance(title, str) or not title.strip():
            raise ValueError("rename(title): the title must be a non-empty string")
        return await self._backend.update(title=title)

    async def archive(self, archived: bool = True) -> ChatInfo:
        """Archive the chat (`Chats.list()` leaves it out unless asked), or with
        `archived=False` bring it back. An archived chat still takes messages."""
        return await self._backend.update(archived=archived)

    async def set_metadata(self, metadata: dict[str, Any]) -> ChatInfo:
        """Replace the chat's metadata: a JSON object of at most 16 KiB."""
        if not isinstance(metadata, dict):
            raise ValueError("set_metadata(metadata): metadata must be a dict (a JSON object)")
        return await self._backend.update(metadata=metadata)

    async def delete(self, *, wait: bool = True) -> DeleteChatResult | None:
        """Erase the conversation everywhere: its stored messages and record, its stream, its
        running workflow (ended, not finished) and the sub-agent chats it owns.

        The deletion runs durably in the workers (a crash finishes it elsewhere) and deleting
        twice is harmless. Afterwards the id is unknown: a later message starts an empty chat.
        With `wait` (default), returns once everything is gone.
        """
        self.run_id = None
        return await self._backend.delete(wait=wait)

    async def status(self) -> ChatStatus | None:
        """The chat's status, or None when it never existed."""
        return await self._backend.status()


MAX_OWNER_LENGTH = 200

_TRANSPORTS = ("http", "ws")


def _gateway_transport(transport: str | None, url: BaseUrl | None) -> str | None:
    """The gateway transport `AgentChat(transport=...)` asks for; None: direct."""
    if transport is not None and transport not in _TRANSPORTS:
        raise ValueError(f"transport must be 'http' or 'ws', not {str(transport)[:40]!r}")
    if transport is not None and not url:
        raise ValueError(
            f"transport={transport!r} talks to a gateway: give base_url (or set AGENTCHAT_URL)"
        )
    return (transport or "http") if url else None


def _checked_owner(owner: str | None) -> str | None:
    if owner is None:
        return None
    if not isinstance(owner, str) or not owner.strip() or len(owner) > MAX_OWNER_LENGTH:
        raise ValueError(
            f"owner must be a non-empty string of at most {MAX_OWNER_LENGTH} characters"
        )
    return owner
