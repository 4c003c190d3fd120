"""`DirectBackend`: a chat through Temporal (updates to its workflow) and Redis (its stream)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

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

from agentchat.client import _stored
from agentchat.client._backend import StreamFactory
from agentchat.connections import get_redis, get_temporal
from agentchat.errors import (
    AgentChatError,
    ChatClosedError,
    ChatNotFoundError,
    CursorTrimmedError,
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
from agentchat.protocol.envelope import TURN_END
from agentchat.protocol.messages import UIMessage
from agentchat.settings import Settings, redact_url
from agentchat.stream._reader import ChatStream, _Follow, previous_id
from agentchat.stream._store import StreamStore, id_tuple
from agentchat.workflows.chat import ChatWorkflow, workflow_id_for

__all__ = ["DirectBackend"]

T = TypeVar("T")

DELETE_PATIENCE = 120.0
"""Seconds `delete()` waits for the deletion workflow (about 5 s when workers are up)."""
WORKFLOW_TASK_TIMEOUT = timedelta(seconds=4)
"""How long a worker may hold one of a chat's workflow tasks before Temporal gives it to
another. Temporal's 10 s default is what a chat waited when the worker holding its task was
killed (the longest silences of `python -m bench --only crashes`, 10-13 s at a kill every
3 s); a task takes milliseconds, and the SDK's deadlock detector fails one that holds its
thread 2 s. Continue-as-new carries it to the next run."""


class DirectBackend:
    """One chat through Temporal and Redis: updates to its workflow, reads of its stream.

    Args:
        chat_id: The chat this backend serves.
        agent: The agent a run started here serves.
        settings: Where Temporal and Redis are.
        streams: Builds the streams this backend returns.
        accept_timeout: How long the workflow may take to accept input before the backend
            asks whether a worker polls the queue.
        new_chat: The caller minted the chat id: its first run looks for no earlier one.
        owner: Act for this owner: another owner's chat is refused as unknown (None: any).
        parent: The chat that delegates to this one; deleting it deletes this one.
        inputs: The chat's inputs, given to its first run (the worker checks them).
    """

    def __init__(
        self,
        chat_id: str,
        agent: str,
        settings: Settings,
        *,
        streams: StreamFactory,
        accept_timeout: timedelta,
        new_chat: bool = False,
        owner: str | None = None,
        parent: str | None = None,
        inputs: dict[str, Any] | None = None,
    ) -> None:
        self.chat_id = chat_id
        self.inputs = inputs
        self.owner = owner
        self.parent = parent
        self.agent = agent
        self.settings = settings
        self.workflow_id = workflow_id_for(chat_id)
        self.accept_timeout = accept_timeout
        self._streams = streams
        self._new_chat = new_chat
        self._run_id: str | None = None
        """The run this backend last heard from: input tries a plain update to it first."""
        self._stream_store: StreamStore | None = None

    # -- connections --------------------------------------------------------------------------

    async def _temporal(self) -> Client:
        return await get_temporal(self.settings)

    async def _store(self) -> StreamStore:
        redis = await get_redis(self.settings)  # per event loop; the store follows it
        if self._stream_store is None or self._stream_store.redis is not redis:
            self._stream_store = StreamStore(redis)
        return self._stream_store

    # -- input --------------------------------------------------------------------------------

    async def send(self, request: SendInput) -> tuple[SendAck, ChatStream]:
        return await self._input(ChatWorkflow.send, request)

    async def trigger(self, request: SendInput) -> tuple[SendAck, ChatStream]:
        return await self._input(ChatWorkflow.trigger, request)

    async def _input(self, update: Any, request: SendInput) -> tuple[SendAck, ChatStream]:
        store, _ = await asyncio.gather(self._store(), self._temporal())
        # Where to start reading: the stream's end *before* sending, so our turn's first
        # record cannot slip past us however quickly it is written.
        cursor = await self._redis_call(store.last_id(self.chat_id))
        message_id = request.message.id
        ack = await self._deliver(update, request, message_id)
        follow = _Follow(user_message_id=message_id)
        if ack.duplicate and ack.turn:
            start = await self._redis_call(store.turn_start(self.chat_id, ack.turn))
            cursor = previous_id(start) if start else "0-0"
            follow = _Follow(user_message_id=message_id, turn=ack.turn)
        return ack, self._stream(store, cursor, follow)

    async def steer(self, request: SendInput) -> SendAck:
        return await self._deliver(ChatWorkflow.steer, request, request.message.id)

    async def stop(self, request: StopInput) -> StopAck:
        store = await self._store()
        flagged: int | None = None
        # Fast path: the running step polls this flag between chunks. Without Redis the
        # workflow sets the flag itself, then cancels the activity.
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            flagged = await asyncio.wait_for(
                store.request_stop(self.chat_id), self.settings.connect_timeout
            )
        ack = await self._update_existing("stop", request, StopAck)
        # The flagged step may have ended before the update arrived: both name the turn.
        if ack is not None and ack.turn is not None:
            return ack
        return StopAck(turn=flagged)

    async def close(self, request: CloseInput, *, wait: bool) -> None:
        ack = await self._update_existing("close", request, CloseAck)
        if ack is not None and wait:
            handle = (await self._temporal()).get_workflow_handle(
                self.workflow_id, run_id=ack.run_id, result_type=ChatState
            )
            await handle.result(follow_runs=False)

    async def preload(self, request: PreloadInput) -> PreloadAck:
        # The update answers once the hook ran, which may take minutes: not accept_timeout.
        ack = await self._update_with_start(
            ChatWorkflow.preload, request, PreloadAck, rpc_timeout=timedelta(minutes=5)
        )
        self._run_id = ack.run_id
        return ack

    async def submit_tool_result(self, request: ToolResultInput) -> ToolResultAck:
        return await self._answer("tool_result", request, "tool call")

    async def answer_approval(self, request: ApprovalInput) -> ToolResultAck:
        return await self._answer("approval", request, "approval")

    async def _answer(self, update: str, answer: Any, what: str) -> ToolResultAck:
        """Deliver a person's answer to the waiting turn; never starts a run."""
        ack = await self._update_existing(update, answer, ToolResultAck)
        if ack is None:
            raise NotPendingError(f"chat {self.chat_id!r} is not running: no {what} waits")
        return ack

    # -- reading ------------------------------------------------------------------------------

    async def reconnect(self, cursor: str | None) -> ChatStream:
        store = await self._store()
        if cursor is not None:
            entry = await self._redis_call(store.entry(self.chat_id, cursor))
            if entry is None:
                first = await self._redis_call(store.first_id(self.chat_id))
                if first is None or id_tuple(cursor) < id_tuple(first):
                    raise CursorTrimmedError(
                        f"cursor {cursor} of chat {self.chat_id!r} is older than the retained"
                        f" stream (oldest: {first or 'none'}); restore from history() instead"
                    )
            elif entry.kind != TURN_END:
                return self._stream(store, cursor, _Follow(turn=entry.turn))
        active, start = await self._redis_call(store.active_turn(self.chat_id))
        if active is None:
            return self._stream(store, cursor or "0-0", _Follow(turn=-1))
        after = cursor if cursor is not None else (previous_id(start) if start else "0-0")
        return self._stream(store, after, _Follow(turn=active))

    async def open_stream(self, after: str, follow: _Follow) -> ChatStream:
        return self._stream(await self._store(), after, follow)

    def _stream(self, store: StreamStore, after: str, follow: _Follow) -> ChatStream:
        return self._streams(
            store,
            after,
            follow,
            lambda turn: self._settled_turn(follow.user_message_id, turn),
        )

    async def history(self) -> list[UIMessage]:
        # A running run holds the whole conversation (restored from the store when it
        # opened) plus the running turn; else the store has it. Without a store (a client
        # with no AGENTCHAT_DATABASE_URL), or for a chat it never recorded, the last run's.
        status = await self._run_status()
        if status == WorkflowExecutionStatus.RUNNING:
            if self.owner is not None:
                await _stored.load_record(self.settings, self.chat_id, self.owner)
            state = await self._state()
            return list(state.transcript) if state is not None else []
        if self.settings.database_url or self.owner is not None:
            stored = await _stored.stored_history(self.settings, self.chat_id, self.owner)
            if stored is not None:
                return stored
        state = await self._state() if status is not None else None
        return list(state.transcript) if state is not None else []

    async def resources(self) -> dict[str, Any]:
        state = await self._kept_state()
        return dict(state.get("resources") or {})

    async def thread(self, name: str) -> list[UIMessage]:
        state = await self._kept_state()
        thread = (state.get("threads") or {}).get(name) or {}
        return [UIMessage.model_validate(m) for m in thread.get("messages") or []]

    async def _kept_state(self) -> dict[str, Any]:
        """What the chat keeps besides its transcript (resources, threads), as history():
        the running run's, else the store's, else the last run's."""
        status = await self._run_status()
        if status != WorkflowExecutionStatus.RUNNING and (
            self.settings.database_url or self.owner is not None
        ):
            with contextlib.suppress(ChatNotFoundError):
                record = await _stored.load_record(self.settings, self.chat_id, self.owner)
                return dict(record.state)
            if self.owner is not None:
                raise ChatNotFoundError(f"no chat {self.chat_id!r}")
        elif self.owner is not None:
            await _stored.load_record(self.settings, self.chat_id, self.owner)
        state = await self._state() if status is not None else None
        return state.model_dump(include={"resources", "threads"}) if state is not None else {}

    async def _run_status(self) -> WorkflowExecutionStatus | None:
        handle = (await self._temporal()).get_workflow_handle(self.workflow_id)
        try:
            return (await handle.describe()).status
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise self._temporal_error(exc) from exc

    async def info(self) -> ChatInfo:
        record = await _stored.load_record(self.settings, self.chat_id, self.owner)
        return _stored.info_of(record)

    async def update(
        self,
        *,
        title: str | None = None,
        archived: bool | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ChatInfo:
        return await _stored.update_chat(
            self.settings,
            self.chat_id,
            self.owner,
            title=title,
            archived=archived,
            metadata=metadata,
        )

    async def delete(self, *, wait: bool) -> DeleteChatResult | None:
        self._run_id = None
        try:
            return await asyncio.wait_for(
                _stored.delete_chat(self.settings, self.chat_id, self.owner, wait=wait),
                DELETE_PATIENCE,
            )
        except RPCError as exc:
            raise self._temporal_error(exc) from exc
        except TimeoutError:
            await self._raise_if_no_worker()
            raise TemporalUnavailableError(
                f"chat {self.chat_id!r}: its deletion did not finish within"
                f" {DELETE_PATIENCE:g}s; it is durable and goes on (deleting again is safe)"
            ) from None

    async def status(self) -> ChatStatus | None:
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
        answer = state.trigger_answers.get(owner) if owner is not None else None
        if answer is not None:  # a trigger's turn: its carrier is not in the transcript
            found = next((m for m in state.transcript if m.id == answer), None)
            return (turn, found) if found is not None else None
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
            ChatInput(
                chat_id=self.chat_id,
                agent=self.agent,
                new_chat=self._new_chat,
                owner=self.owner,
                parent=self.parent,
                inputs=self.inputs,
            ),
            id=self.workflow_id,
            task_queue=self.settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=f"chat {self.chat_id} with {self.agent}",
            task_timeout=WORKFLOW_TASK_TIMEOUT,
        )

    async def _deliver(self, update: Any, req: SendInput, message_id: str) -> SendAck:
        """Deliver a message to the chat's run, starting one when none runs."""
        # One update id per call (stable across this call's retries): a resend of the same
        # message id in a later call must reach the handler, which answers it as a duplicate
        # with its turn, rather than Temporal's cache of the first call's answer.
        update_id = f"{message_id}/{uuid.uuid4().hex[:12]}"
        ack: SendAck | None = None
        if self._run_id is not None:
            # A chat we saw running: a plain update skips what update-with-start costs
            # Temporal (the start request): ~0.5 ms of every follow-up. A closing or ended
            # run answers None, and update-with-start then waits for it or starts the next.
            ack = await self._update_existing(
                update, req, SendAck, update_id=update_id, for_input=True
            )
        if ack is None:
            ack = await self._update_with_start(update, req, SendAck, update_id=update_id)
        self._run_id = ack.run_id
        self._new_chat = False
        return ack

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
            f"chat {self.chat_id!r}: could not deliver input"
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
                f"chat {self.chat_id!r}: {name} was not accepted in time"
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
            return AgentChatError(f"chat {self.chat_id!r}: {cause.type}: {cause.message}")
        return AgentChatError(f"chat {self.chat_id!r}: update failed: {cause}")

    def _temporal_error(self, exc: RPCError) -> AgentChatError:
        return TemporalUnavailableError(
            f"Temporal at {self.settings.temporal_address} failed for chat {self.chat_id!r}:"
            f" {exc.status.name}: {exc.message}"
        )

    async def _not_accepted(self, waited: timedelta) -> AgentChatError:
        """Why input was not accepted in time: no worker (raised here), or a slow one."""
        await self._raise_if_no_worker()
        return TemporalUnavailableError(
            f"chat {self.chat_id!r}: the workflow did not accept the input within"
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
