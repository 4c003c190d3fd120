"""Tool calls inside a turn: server tools as activities, client tools and approvals as
durable waits for the caller's update. Deterministic workflow code only.

`ToolCalls` sees the workflow that runs the turn only through `TurnHost`, so this module does
not depend on `agentchat.workflows.chat` (which creates it).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any, Protocol

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from agentchat.errors import NotPendingError
    from agentchat.protocol.contracts import (
        AgentSpec,
        ApprovalInput,
        ChatState,
        Display,
        PublishInput,
        QueuedInput,
        StreamMark,
        ToolCallInput,
        ToolCallRecord,
        ToolOutcome,
        ToolResultAck,
        ToolResultInput,
        ToolSpec,
    )
    from agentchat.protocol.envelope import tool_producer, workflow_producer
    from agentchat.protocol.messages import UIMessage, fold_tool_chunk
    from agentchat.protocol.names import PUBLISH, TOOL_CALL
    from agentchat.protocol.tool_display import client_tool_chunk

__all__ = ["ToolCalls", "TurnHost"]


class TurnHost(Protocol):
    """What `ToolCalls` needs from the workflow running the turn (`ChatWorkflow`)."""

    @property
    def state(self) -> ChatState:
        """The chat: its id and agent, whether it is closing, the sub-chats it owns."""
        ...

    @property
    def spec(self) -> AgentSpec | None:
        """The agent's tools (set once the run has opened)."""
        ...

    @property
    def stop_turn(self) -> int | None:
        """The turn a stop was asked for, if any."""
        ...

    @property
    def stepping(self) -> int | None:
        """The turn whose LLM step is running right now, if any."""
        ...

    async def record(self, activity: str, arg: Any) -> None:
        """Run a bookkeeping local activity (here: publish chunks), tolerating its failure."""
        ...

    async def await_or_stop(self, handle: asyncio.Future[Any], turn: int) -> None:
        """Wait for an activity; on a stop of `turn`, let it hand back, then cancel it."""
        ...


def _not_pending(what: str) -> ApplicationError:
    return ApplicationError(
        f"no {what} is waiting for an answer", type=NotPendingError.__name__, non_retryable=True
    )


class ToolCalls:
    """Runs a step's tool calls concurrently and holds the waits for client answers."""

    def __init__(self, host: TurnHost) -> None:
        self.host = host
        self.waiting_results: dict[str, int] = {}
        """Client tool call id -> turn, while it waits for `submit_tool_result`."""
        self.results: dict[str, ToolResultInput] = {}
        self.waiting_approvals: dict[str, int] = {}
        """Approval id -> turn, while it waits for `approve` / `deny`."""
        self.decisions: dict[str, ApprovalInput] = {}
        self.marks: dict[str, StreamMark] = {}
        """Producer -> how far it wrote, for the running turn's end record (the host resets
        it when a turn begins)."""

    # -- running ------------------------------------------------------------------------------

    async def run(
        self,
        turn: int,
        step: int,
        calls: list[ToolCallRecord],
        assistant: UIMessage,
        item: QueuedInput,
        *,
        silent: bool = False,
    ) -> None:
        """Run every call of a step at once and fold the outcomes into the message's parts.
        With `silent` (a step of an answer clients do not see) the calls stream nothing."""
        outcomes = await asyncio.gather(
            *(self._one(turn, step, c, assistant, item, silent) for c in calls)
        )
        for call, outcome in zip(calls, outcomes, strict=True):
            if outcome.stream is not None:
                self.marks[tool_producer(turn, step, call.id)] = outcome.stream
            part = _part(assistant, call.id)
            if part is None:
                continue
            fold_tool_chunk(part, _outcome_chunk(call.id, outcome))
            if outcome.subchat and outcome.subchat not in self.host.state.subchats:
                self.host.state.subchats.append(outcome.subchat)
            # Resources the call set (it streamed them): kept with the chat.
            self.host.state.resources.update(outcome.resources)

    def _spec(self, name: str) -> ToolSpec | None:
        assert self.host.spec is not None
        return next((t for t in self.host.spec.tools if t.name == name), None)

    async def _one(
        self,
        turn: int,
        step: int,
        call: ToolCallRecord,
        assistant: UIMessage,
        item: QueuedInput,
        silent: bool,
    ) -> ToolOutcome:
        if call.input_error is not None:
            return ToolOutcome(error=call.input_error)  # the step already published it
        spec = self._spec(call.name)
        if silent:  # approvals and client tools need the client: refused with the agent
            hidden = spec or ToolSpec(name=call.name)
            return await self._server(
                turn, step, call, hidden.model_copy(update={"display": "hidden"}), item
            )
        if spec is not None and spec.requires_approval:
            denial = await self._approval(turn, step, call, assistant, spec)
            if denial is not None:
                return denial
        if spec is not None and spec.client:
            return await self._client_result(turn, step, call, spec)
        return await self._server(turn, step, call, spec, item)

    async def _server(
        self, turn: int, step: int, call: ToolCallRecord, spec: ToolSpec | None, item: QueuedInput
    ) -> ToolOutcome:
        spec = spec or ToolSpec(name=call.name)  # unknown tools are reported by the activity
        handle = workflow.start_activity(
            TOOL_CALL,
            ToolCallInput(
                chat_id=self.host.state.chat_id,
                agent=self.host.state.agent,
                turn=turn,
                step=step,
                call=call,
                client_data=item.client_data,
                inputs=self.host.state.inputs,
                resources=self.host.state.resources,
                silent=spec.display == "hidden",
            ),
            result_type=ToolOutcome,
            start_to_close_timeout=timedelta(seconds=spec.timeout_seconds),
            heartbeat_timeout=timedelta(seconds=spec.heartbeat_seconds),
            retry_policy=RetryPolicy(maximum_attempts=spec.max_attempts),
            cancellation_type=ActivityCancellationType.TRY_CANCEL,
            summary=f"turn {turn} tool {call.name}",
        )
        await self.host.await_or_stop(handle, turn)
        try:
            outcome: ToolOutcome = await handle
            return outcome
        except ActivityError as err:
            if isinstance(err.cause, CancelledError):
                error = "stopped"
            else:
                cause = err.cause
                message = cause.message if isinstance(cause, ApplicationError) else str(err)
                error = f"{call.name} failed: {message}"
            await self._publish(
                turn, step, call.id, "error", [_error_chunk(call.id, error)], spec.display
            )
            return ToolOutcome(error=error)

    def _interrupted(self, turn: int) -> bool:
        # close() ends the run after the current turn: a turn waiting on a person must not
        # hold it open, so closing ends such waits like a stop does.
        return self.host.stop_turn == turn or self.host.state.closed

    def _why_unanswered(self, turn: int, what: str, spec: ToolSpec) -> str:
        if self.host.stop_turn == turn:
            return "stopped"
        if self.host.state.closed:
            return f"the chat was closed before the {what}"
        return f"no {what} within {spec.client_timeout_seconds:g}s"

    async def _approval(
        self, turn: int, step: int, call: ToolCallRecord, assistant: UIMessage, spec: ToolSpec
    ) -> ToolOutcome | None:
        # Ids carry the step (providers may reuse call ids across steps); runs recorded before
        # that keep the ids they announced.
        approval_id = (
            f"approval-{turn}-{step}-{call.id}"
            if workflow.patched("approval-id-step")
            else f"approval-{turn}-{call.id}"
        )
        request = {
            "type": "tool-approval-request",
            "approvalId": approval_id,
            "toolCallId": call.id,
        }
        part = _part(assistant, call.id)
        if part is not None:
            fold_tool_chunk(part, request)
        self.waiting_approvals[approval_id] = turn
        await self._publish(turn, step, call.id, "approval", [request], spec.display)
        # Runs recorded before approvals could time out waited without a timer.
        timeout = (
            timedelta(seconds=spec.client_timeout_seconds)
            if workflow.patched("approval-timeout")
            else None
        )
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: approval_id in self.decisions or self._interrupted(turn),
                timeout=timeout,
                timeout_summary=f"approval of {call.name}",
            )
        self.waiting_approvals.pop(approval_id, None)
        decision = self.decisions.pop(approval_id, None)
        if decision is None:
            error = self._why_unanswered(turn, "approval", spec)
            if part is not None:
                part.pop("approval", None)
            await self._publish(
                turn, step, call.id, "unapproved", [_error_chunk(call.id, error)], spec.display
            )
            return ToolOutcome(error=error)
        if part is not None:
            # The caller's answer, which the AI SDK records on the part (no stream chunk has it).
            part["state"] = "approval-responded"
            part["approval"] = {
                "id": approval_id,
                "approved": decision.approved,
                **({"reason": decision.reason} if decision.reason else {}),
            }
        if decision.approved:
            return None
        denial = ToolOutcome(denied=True, error=decision.reason or "denied")
        await self._publish(
            turn, step, call.id, "denied", [_outcome_chunk(call.id, denial)], spec.display
        )
        return denial

    async def _client_result(
        self, turn: int, step: int, call: ToolCallRecord, spec: ToolSpec
    ) -> ToolOutcome:
        self.waiting_results[call.id] = turn
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: call.id in self.results or self._interrupted(turn),
                timeout=timedelta(seconds=spec.client_timeout_seconds),
                timeout_summary=f"client tool {call.name}",
            )
        self.waiting_results.pop(call.id, None)
        answer = self.results.pop(call.id, None)
        if answer is None:
            outcome = ToolOutcome(error=self._why_unanswered(turn, "result from the client", spec))
        elif answer.error is not None:
            outcome = ToolOutcome(error=answer.error)
        else:
            outcome = ToolOutcome(output=answer.output)
        await self._publish(
            turn, step, call.id, "result", [_outcome_chunk(call.id, outcome)], spec.display
        )
        return outcome

    async def _publish(
        self,
        turn: int,
        step: int,
        call_id: str,
        what: str,
        chunks: list[dict[str, Any]],
        display: Display = "stream",
    ) -> None:
        # What clients see of the call's tool (`display`); the part folds the chunks whole.
        # A hidden call's publish still runs, with no chunks: the same commands either way.
        if display != "stream":
            chunks = [c for c in (client_tool_chunk(c, display) for c in chunks) if c is not None]
        producer = workflow_producer(turn, step, call_id, what)
        # One record per chunk, none merged (tool results and approvals): seq = their count.
        self.marks[producer] = StreamMark(seq=len(chunks))
        await self.host.record(
            PUBLISH,
            PublishInput(
                chat_id=self.host.state.chat_id, turn=turn, producer=producer, chunks=chunks
            ),
        )

    # -- answers from the caller --------------------------------------------------------------

    def check_answer(self, req: ToolResultInput) -> None:
        if req.tool_call_id in self.results:
            raise _not_pending(f"client tool call {req.tool_call_id!r} (already answered)")
        # The stream announces a call while its step is still finishing (or being retried
        # after a crash): an answer that arrives before the wait begins is kept for it.
        early = self.host.stepping is not None
        if req.tool_call_id not in self.waiting_results and not early:
            raise _not_pending(f"client tool call {req.tool_call_id!r}")

    def answer(self, req: ToolResultInput) -> ToolResultAck:
        self.check_answer(req)
        self.results[req.tool_call_id] = req
        turn = self.waiting_results.get(req.tool_call_id, self.host.stepping)
        assert turn is not None
        return ToolResultAck(turn=turn)

    def forget(self) -> None:
        """Drop early answers for calls that never came (the retried step chose others)."""
        self.results.clear()
        self.decisions.clear()

    def check_decision(self, req: ApprovalInput) -> None:
        if req.approval_id not in self.waiting_approvals or req.approval_id in self.decisions:
            raise _not_pending(f"approval {req.approval_id!r}")

    def decide(self, req: ApprovalInput) -> ToolResultAck:
        self.check_decision(req)
        self.decisions[req.approval_id] = req
        return ToolResultAck(turn=self.waiting_approvals[req.approval_id])


def _error_chunk(call_id: str, error: str) -> dict[str, Any]:
    return {"type": "tool-output-error", "toolCallId": call_id, "errorText": error}


def _outcome_chunk(call_id: str, outcome: ToolOutcome) -> dict[str, Any]:
    """The chunk that tells a call's outcome: what the stream shows, and what the part folds."""
    if outcome.denied:
        return {"type": "tool-output-denied", "toolCallId": call_id}
    if outcome.error is not None:
        return _error_chunk(call_id, outcome.error)
    return {"type": "tool-output-available", "toolCallId": call_id, "output": outcome.output}


def _part(message: UIMessage, call_id: str) -> dict[str, Any] | None:
    return next((p for p in message.parts if p.get("toolCallId") == call_id), None)
