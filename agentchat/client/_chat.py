"""`AgentChat`: the client for one chat, used from scripts, webhooks and other agents' tools."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError
from redis.exceptions import RedisError
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from agentchat.client._http import BaseUrl, HttpTransport
from agentchat.connections import get_redis, get_temporal
from agentchat.errors import (
    AgentChatError,
    ChatClosedError,
    InvalidMessageError,
    NotPendingError,
    NoWorkerError,
    RedisUnavailableError,
    TemporalUnavailableError,
    error_from_application_type,
)
from agentchat.protocol.contracts import (
    ApprovalInput,
    ChatInput,
    ChatState,
    ChatStatus,
    CloseAck,
    CloseInput,
    PreloadAck,
    PreloadInput,
    SendAck,
    SendInput,
    StopAck,
    StopInput,
    ToolResultAck,
    ToolResultInput,
)
from agentchat.protocol.limits import check_user_message
from agentchat.protocol.messages import UIMessage, user_message
from agentchat.settings import Settings, redact_url
from agentchat.stream._reader import ChatStream, EntrySource, _Follow, previous_id
from agentchat.stream._store import StreamStore, check_cursor
from agentchat.workflows.chat import ChatWorkflow, workflow_id_for

__all__ = ["AgentChat", "ChatSession"]

T = TypeVar("T")
_CHAT_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-")


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
    ) -> None:
        self._new_chat = id is None
        self.id = id if id is not None else str(uuid.uuid4())
        if not self.id or len(self.id) > 200 or not set(self.id) <= _CHAT_ID_CHARS:
            raise ValueError(f"chat id {self.id[:60]!r}: use 1-200 letters, digits and '_.:-'")
        if not agent:
            raise ValueError("agent must name an agent, e.g. AgentChat(agent='demo')")
        self.agent = agent
        self.client_data = client_data
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
        self.run_id: str | None = None
        self._stream_store: StreamStore | None = None
        self._http: HttpTransport | None = None
        url = base_url or self.settings.url
        if url:
            self._http = HttpTransport(
                self,
                url,
                api_key=api_key or self.settings.api_key,
                token=token,
                http_client=http_client,
                headers=headers,
            )

    def __repr__(self) -> str:
        return f"AgentChat(agent={self.agent!r}, id={self.id!r})"

    # -- connections --------------------------------------------------------------------------

    async def _temporal(self) -> Client:
        return await get_temporal(self.settings)

    async def _store(self) -> StreamStore:
        redis = await get_redis(self.settings)  # per event loop; the store follows it
        if self._stream_store is None or self._stream_store.redis is not redis:
            self._stream_store = StreamStore(redis)
        return self._stream_store

    # -- sending ------------------------------------------------------------------------------

    async def send_message(
        self,
        message: str | UIMessage,
        *,
        message_id: str | None = None,
        client_data: dict[str, Any] | None = None,
    ) -> ChatStream:
        """Send a user message; returns once the chat durably accepted it.

        The returned stream carries exactly the turn this message causes, even when other
        turns run before it. Sending the same `message_id` again runs no second turn: it
        returns a stream of the original one.
        """
        return await self._send(self._as_message(message, message_id), client_data)

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
        check_user_message(message, where="send_raw(messages)[-1]")
        return await self._send(message, client_data)

    async def steer(self, message: str | UIMessage, *, message_id: str | None = None) -> SendAck:
        """Steer the running turn: injected at its next LLM step, else run as the next turn.

        Never dropped. Returns the acknowledgement (`injected` tells which of the two).
        """
        msg = self._as_message(message, message_id)
        if self._http is not None:
            return await self._http.steer(msg)
        req = SendInput(message=msg, agent=self.agent, client_data=self.client_data, kind="steer")
        ack = await self._deliver(ChatWorkflow.steer, req, msg.id)
        await self._note_run(ack.run_id, ack.new_run)
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
        if self._http is not None:
            return await self._http.send(message, data)
        store, _ = await asyncio.gather(self._store(), self._temporal())
        # Where to start reading: the stream's end *before* sending, so our turn's first
        # record cannot slip past us however quickly it is written.
        cursor = await self._redis_call(store.last_id(self.id))
        req = SendInput(message=message, agent=self.agent, client_data=data)
        ack = await self._deliver(ChatWorkflow.send, req, message.id)
        await self._note_run(ack.run_id, ack.new_run)
        follow = _Follow(user_message_id=message.id)
        if ack.duplicate and ack.turn:
            start = await self._redis_call(store.turn_start(self.id, ack.turn))
            cursor = previous_id(start) if start else "0-0"
            follow = _Follow(user_message_id=message.id, turn=ack.turn)
        stream = self._stream(store, cursor, follow)
        stream.ack = ack
        return stream

    async def open_stream(self, cursor: str, follow: _Follow) -> ChatStream:
        """A stream of the followed turn after `cursor` (the gateway's resume route)."""
        return self._stream(await self._store(), cursor, follow)

    def _stream(self, store: EntrySource, cursor: str, follow: _Follow) -> ChatStream:
        def on_event(entry_id: str) -> None:
            self.session.last_event_id = entry_id

        return ChatStream(
            store,
            self.id,
            after=cursor,
            follow=follow,
            stream_timeout=self.stream_timeout,
            on_event=on_event,
            on_turn_complete=self.on_turn_complete,
            # Over HTTP the gateway probes and sends `settled` itself.
            probe=None
            if self._http is not None
            else lambda turn: self._settled_turn(follow.user_message_id, turn),
        )

    async def _note_run(self, run_id: str, new_run: bool) -> None:
        self.run_id = run_id
        self._new_chat = False
        if new_run and self.on_triggered is not None:
            outcome = self.on_triggered(run_id)
            if outcome is not None:
                await outcome

    # -- control ------------------------------------------------------------------------------

    async def stop(self) -> int | None:
        """Stop the running turn; its partial answer stays in the transcript.

        Returns the stopped turn's number, or None when no turn was running (then nothing
        happens and nothing starts).
        """
        if self._http is not None:
            return await self._http.stop()
        store = await self._store()
        flagged: int | None = None
        # Fast path: the running step polls this flag between chunks. Without Redis the
        # workflow sets the flag itself, then cancels the activity.
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            flagged = await asyncio.wait_for(
                store.request_stop(self.id), self.settings.connect_timeout
            )
        ack = await self._update_existing("stop", StopInput(), StopAck)
        # The flagged step may have ended before the update arrived: both name the turn.
        return ack.turn if ack is not None and ack.turn is not None else flagged

    async def close(self, *, wait: bool = False) -> None:
        """End the chat's workflow run after the current turn (and queued input).

        A message sent later starts a new run that continues the same conversation.
        With `wait`, return only once the run has ended.
        """
        if self._http is not None:
            return await self._http.close(wait)
        ack = await self._update_existing("close", CloseInput(), CloseAck)
        if ack is not None and wait:
            handle = (await self._temporal()).get_workflow_handle(
                self.workflow_id, run_id=ack.run_id, result_type=ChatState
            )
            await handle.result(follow_runs=False)

    async def preload(self) -> PreloadAck:
        """Start the chat now and run the agent's preload hook, before any message."""
        if self._http is not None:
            return await self._http.preload()
        req = PreloadInput(agent=self.agent, client_data=self.client_data)
        ack = await self._update_with_start(
            ChatWorkflow.preload, req, PreloadAck, rpc_timeout=timedelta(minutes=5)
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
        if self._http is not None:
            return await self._http.tool_result(tool_call_id, output, error)
        answer = ToolResultInput(tool_call_id=tool_call_id, output=output, error=error)
        return await self._answer("tool_result", answer, "tool call")

    async def approve(self, approval_id: str) -> int:
        """Approve a tool call announced by a `tool-approval-request` chunk."""
        if self._http is not None:
            return await self._http.approval(approval_id, True, None)
        return await self._answer("approval", ApprovalInput(approval_id=approval_id, approved=True))

    async def deny(self, approval_id: str, reason: str | None = None) -> int:
        """Deny a tool call; the model is told, with `reason`."""
        if self._http is not None:
            return await self._http.approval(approval_id, False, reason)
        decision = ApprovalInput(approval_id=approval_id, approved=False, reason=reason)
        return await self._answer("approval", decision, "approval")

    async def _answer(self, update: str, answer: Any, what: str = "approval") -> int:
        """Deliver a person's answer to the waiting turn; returns the turn number."""
        ack = await self._update_existing(update, answer, ToolResultAck)
        if ack is None:
            raise NotPendingError(f"chat {self.id!r} is not running: no {what} waits")
        return ack.turn

    # -- reading ------------------------------------------------------------------------------

    async def reconnect(self) -> ChatStream:
        """Resume reading: from `session.last_event_id` to the end of the turn it is in,
        or, with no cursor, the active turn from its start. Nothing missed, nothing twice.

        Raises `CursorTrimmedError` when the cursor is older than the retained stream; the
        conversation is then in `history()`. With no turn to follow the stream is empty.
        """
        if self._http is not None:
            return await self._http.reconnect()
        store = await self._store()
        cursor = self.session.last_event_id
        if cursor is not None:
            check_cursor(cursor)
            entry = await self._redis_call(store.entry(self.id, cursor))
            if entry is None:
                first = await self._redis_call(store.first_id(self.id))
                from agentchat.errors import CursorTrimmedError
                from agentchat.stream._store import id_tuple

                if first is None or id_tuple(cursor) < id_tuple(first):
                    raise CursorTrimmedError(
                        f"cursor {cursor} of chat {self.id!r} is older than the retained stream"
                        f" (oldest: {first or 'none'}); restore from history() instead"
                    )
            elif entry.kind != "turn-end":
                return self._stream(store, cursor, _Follow(turn=entry.turn))
        active, start = await self._redis_call(store.active_turn(self.id))
        if active is None:
            return self._stream(store, cursor or "0-0", _Follow(turn=-1))
        after = cursor if cursor is not None else (previous_id(start) if start else "0-0")
        return self._stream(store, after, _Follow(turn=active))

    async def history(self) -> list[UIMessage]:
        """The conversation as `UIMessage`s, from the workflow (the record of truth)."""
        if self._http is not None:
            return await self._http.history()
        state = await self._state()
        return list(state.transcript) if state is not None else []

    async def status(self) -> ChatStatus | None:
        """The chat's status, or None when it never existed."""
        if self._http is not None:
            return await self._http.status()
        handle = (await self._temporal()).get_workflow_handle(self.workflow_id)
        try:
            return await handle.query(ChatWorkflow.status)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise self._temporal_error(exc) from exc

    async def _state(self) -> ChatState | None:
        handle = (await self._temporal()).get_workflow_handle(
            self.workflow_id, result_type=ChatState
        )
        try:
            description = await handle.describe()
            if description.status == WorkflowExecutionStatus.COMPLETED:
                state: ChatState = await handle.result(follow_runs=False)
                return state
            return await handle.query(ChatWorkflow.current_state)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise self._temporal_error(exc) from exc

    async def _settled_turn(
        self, user_message_id: str | None, turn: int | None
    ) -> tuple[int, UIMessage] | None:
        """The assistant message of a turn the workflow finished, if the stream missed its end."""
        # Status before state: a turn that ends between the two reads is then seen as still
        # running (we look again later), never as finished with a partial answer. The status
        # alone answers "not yet", which is what a waiting reader mostly hears: one query.
        try:
            status = await self.status()
            if status is None:
                return None
            if turn is None and user_message_id is not None:
                turn = status.message_turns.get(user_message_id) or None
            if turn is None or turn <= 0:
                return None
            if status.active_turn == turn or status.last_turn < turn:
                return None
            state = await self._state()
        except AgentChatError:
            return None
        if state is None:
            return None
        owner = next((m for m, t in state.message_turns.items() if t == turn), None)
        for i, message in enumerate(state.transcript):
            if message.id == owner and i + 1 < len(state.transcript):
                following = state.transcript[i + 1]
                if following.role == "assistant":
                    return turn, following
        return None

    # -- Temporal plumbing --------------------------------------------------------------------

    async def _redis_call(self, awaitable: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(awaitable, self.settings.connect_timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            raise RedisUnavailableError(
                f"cannot reach Redis at {redact_url(self.settings.redis_url)}:"
                f" {type(exc).__name__}: {exc}"
            ) from None

    def _start_operation(self) -> WithStartWorkflowOperation[ChatWorkflow, ChatState]:
        return WithStartWorkflowOperation(
            ChatWorkflow.run,
            ChatInput(chat_id=self.id, agent=self.agent, new_chat=self._new_chat),
            id=self.workflow_id,
            task_queue=self.settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=f"chat {self.id} with {self.agent}",
        )

    async def _deliver(self, update: Any, req: SendInput, message_id: str) -> SendAck:
        """Deliver a message to the chat's run, starting one when none runs."""
        # One update id per call (stable across this call's retries): a resend of the same
        # message id in a later call must reach the handler, which answers it as a duplicate
        # with its turn, rather than Temporal's cache of the first call's answer.
        update_id = f"{message_id}/{uuid.uuid4().hex[:12]}"
        if self.run_id is not None:
            # A chat we saw running: a plain update skips what update-with-start costs
            # Temporal (the start request): ~0.5 ms of every follow-up. A closing or ended
            # run answers None, and update-with-start then waits for it or starts the next.
            ack = await self._update_existing(
                update, req, SendAck, update_id=update_id, for_input=True
            )
            if ack is not None:
                return ack
        return await self._update_with_start(update, req, SendAck, update_id=update_id)

    async def _update_with_start(
        self,
        update: Any,
        arg: Any,
        result_type: type[T],
        *,
        update_id: str | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> T:
        timeout = rpc_timeout or self.accept_timeout
        client = await self._temporal()
        for attempt in range(20):
            operation = self._start_operation()
            try:
                result = await client.execute_update_with_start_workflow(
                    update,
                    arg,
                    start_workflow_operation=operation,
                    id=update_id,
                    result_type=result_type,
                    rpc_timeout=timeout,
                )
                return result  # type: ignore[no-any-return]
            except WorkflowUpdateFailedError as exc:
                error = self._rejection(exc)
                if isinstance(error, ChatClosedError) and attempt < 19:
                    # The run is closing after close(): wait for it to end, then the next
                    # attempt starts a new run that restores the conversation.
                    await self._wait_run_end()
                    continue
                raise error from None
            except WorkflowUpdateRPCTimeoutOrCancelledError:
                with contextlib.suppress(Exception):  # retrieve it: no "never retrieved" noise
                    await asyncio.wait_for(operation.workflow_handle(), 0.1)
                raise await self._not_accepted(timeout) from None
            except RPCError as exc:
                if _run_closed_under_us(exc) and attempt < 19:
                    await asyncio.sleep(min(0.05 * (attempt + 1), 0.5))
                    continue
                raise self._temporal_error(exc) from exc
        raise TemporalUnavailableError(
            f"chat {self.id!r}: could not deliver input"
        )  # pragma: no cover

    async def _update_existing(
        self,
        update: Any,
        arg: Any,
        result_type: type[T],
        *,
        update_id: str | None = None,
        for_input: bool = False,
    ) -> T | None:
        """Update the running run, if any (None when none runs); never starts one.

        With `for_input` (a message or a steer), a closing run answers None too, for
        update-with-start to wait for it and start the next, and a timeout says whether the
        input may be sent again.
        """
        # Not pinned to a run: an update that meets a continue-as-new is retried by Temporal
        # on the new run, where one pinned to the old run went on there for 15 s and more.
        handle: WorkflowHandle[Any, Any] = (await self._temporal()).get_workflow_handle(
            self.workflow_id
        )
        try:
            result: T = await handle.execute_update(
                update, arg, id=update_id, result_type=result_type, rpc_timeout=self.accept_timeout
            )
            return result
        except WorkflowUpdateFailedError as exc:
            error = self._rejection(exc)
            if for_input and isinstance(error, ChatClosedError):
                return None
            raise error from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            if for_input:
                raise await self._not_accepted(self.accept_timeout) from None
            await self._raise_if_no_worker()
            name = update if isinstance(update, str) else update.__name__
            raise TemporalUnavailableError(
                f"chat {self.id!r}: {name} was not accepted in time"
            ) from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND or _run_closed_under_us(exc):
                return None
            raise self._temporal_error(exc) from exc

    async def _wait_run_end(self) -> None:
        handle = (await self._temporal()).get_workflow_handle(self.workflow_id)
        try:
            await asyncio.wait_for(handle.result(follow_runs=False), 60)
        except Exception:
            await asyncio.sleep(0.2)

    def _rejection(self, exc: WorkflowUpdateFailedError) -> AgentChatError:
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            mapped = error_from_application_type(cause.type, cause.message)
            if mapped is not None:
                return mapped
            return AgentChatError(f"chat {self.id!r}: {cause.type}: {cause.message}")
        return AgentChatError(f"chat {self.id!r}: update failed: {cause}")

    def _temporal_error(self, exc: RPCError) -> AgentChatError:
        return TemporalUnavailableError(
            f"Temporal at {self.settings.temporal_address} failed for chat {self.id!r}:"
            f" {exc.status.name}: {exc.message}"
        )

    async def _not_accepted(self, waited: timedelta) -> AgentChatError:
        """Why input was not accepted in time: no worker (raised here), or a slow one."""
        await self._raise_if_no_worker()
        return TemporalUnavailableError(
            f"chat {self.id!r}: the workflow did not accept the input within"
            f" {waited.total_seconds():g}s; it may still be applied - resending with the same"
            " message id is safe"
        )

    async def _raise_if_no_worker(self) -> None:
        client = await self._temporal()
        try:
            reply = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=self.settings.temporal_namespace,
                    task_queue=TaskQueue(name=self.settings.task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            )
        except RPCError:
            return
        if not reply.pollers:
            raise NoWorkerError(
                f"no worker polls task queue {self.settings.task_queue!r} at"
                f" {self.settings.temporal_address}; start one with `agentchat worker"
                f" --agents ...` (the input may be applied once one starts; resending with the"
                " same message id is safe)"
            )


def _run_closed_under_us(exc: RPCError) -> bool:
    """The run ended (idle timeout, close) between our request and its delivery."""
    text = exc.message.lower()
    return exc.status == RPCStatusCode.NOT_FOUND or "completed" in text or "closing" in text
