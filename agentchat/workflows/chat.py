"""`ChatWorkflow`: one long-lived workflow per chat, the owner of its transcript.

Input arrives as updates (`send`, `steer`, `stop`, `close`, `preload`); each turn is a
`turn_start` record, one or more LLM step activities, and a `turn_end` record. State lives in
one `ChatState` that continue-as-new carries and that the run returns when it ends, so a later
message can restore the conversation in a new run.

What becomes of each input (a new turn, a resend, a refusal, an interruption, a steer joining
the running turn) and what the run loop does next are decided by the pure functions of
`agentchat.workflows._inbox`; this module does the Temporal side of each decision.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from agentchat.errors import InvalidInputsError, TokenBudgetExceededError, UnknownAgentError
    from agentchat.protocol import templates
    from agentchat.protocol.chunks import resource_chunk
    from agentchat.protocol.contracts import (
        AgentSpec,
        ApprovalInput,
        BlockSpec,
        ChatInput,
        ChatState,
        ChatStatus,
        CloseAck,
        CloseChatsInput,
        CloseInput,
        Compacted,
        CompactInput,
        CompactResult,
        InputKind,
        OpenChatInput,
        OpenChatResult,
        PreloadAck,
        PreloadHookInput,
        PreloadHookResult,
        PreloadInput,
        PublishInput,
        QueuedInput,
        SaveTurnInput,
        SendAck,
        SendInput,
        StepInput,
        StepResult,
        StopAck,
        StopInput,
        StreamMark,
        ThreadState,
        TitleInput,
        TitleResult,
        TokenUsage,
        ToolCallInput,
        ToolCallRecord,
        ToolOutcome,
        ToolResultAck,
        ToolResultInput,
        TriggerSpec,
        TurnEndInput,
        TurnStartInput,
        TurnStatus,
        TurnStopInput,
    )
    from agentchat.protocol.envelope import step_producer, tool_producer
    from agentchat.protocol.messages import UIMessage, fold_digest
    from agentchat.protocol.names import (
        CLOSE_CHATS,
        COMPACT,
        FLAG_STOP,
        LLM_STEP,
        OPEN_CHAT,
        PUBLISH,
        RUN_PRELOAD,
        SAVE_TURN,
        TITLE,
        TOOL_CALL,
        TURN_END,
        TURN_START,
    )
    from agentchat.protocol.triggers import trigger_of
    from agentchat.workflows import _context, _inbox, _triggers
    from agentchat.workflows._inbox import Move, Rejection, StepEnd, Verdict
    from agentchat.workflows.tool_calls import ToolCalls

__all__ = ["ChatWorkflow", "workflow_id_for"]

STOP_GRACE = timedelta(seconds=2)
"""How long a stopped step may take to hand back its partial answer before it is cancelled."""
_NOT_CACHED = "\0transcript-not-cached"

_STEP_RETRY_FIRST = timedelta(milliseconds=100)
"""A failed step is retried at once. Temporal fires a timer up to ~1 s late when it is set
less than that ahead (the server's `history.timerProcessorMaxTimeShift`, 1 s by default), so
retries 1 to 4 (0.1, 0.2, 0.4, 0.8 s asked) each start up to ~1 s after the failure: a
crashed worker's step 0.7 s after its heartbeat timed out, on average (0.8 s with 0.5 s
asked), and a step killed again on its retry no longer waits 1, 2 and 4 s more
(`bench/recovery.py`). A model outage without Retry-After fails the turn after ~4 s of
retries rather than ~8 s."""
_STEP_RETRY_MAX = timedelta(seconds=8)

_SAVE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=0,  # a turn is never dropped from the store: retried until it is back
    non_retryable_error_types=["ValueError"],
)

_TITLE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=2),
    maximum_attempts=3,  # a title is a nicety: never worth holding the turn's end for long
    non_retryable_error_types=["ModelRequestError", UnknownAgentError.__name__],
)

_LOCAL_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=1.5,
    maximum_interval=timedelta(seconds=2),
    maximum_attempts=40,
)


async def _local(activity: str, arg: Any, result_type: type[Any] | None = None) -> Any:
    """Run a short bookkeeping activity (stream records, restore) in the workflow's worker."""
    return await workflow.execute_local_activity(
        activity,
        arg,
        result_type=result_type,
        start_to_close_timeout=timedelta(seconds=10),
        retry_policy=_LOCAL_RETRY,
    )


_TurnEnd = tuple[TurnStatus, str | None, str | None, _context.Budget | None, int]
"""How a turn's blocks ended: status, finish reason, error text, the budget that ended it,
and the last LLM step's number."""


def workflow_id_for(chat_id: str) -> str:
    """The workflow id of a chat: one workflow chain per chat id."""
    return f"chat:{chat_id}"


def _refuse(rejection: Rejection) -> ApplicationError:
    """A decision's refusal, as Temporal carries it to the caller."""
    return ApplicationError(rejection.message, type=rejection.error.__name__, non_retryable=True)


@workflow.defn(name="agentchat.Chat")
class ChatWorkflow:
    @workflow.init
    def __init__(self, input: ChatInput) -> None:
        self.state = input.state or ChatState(chat_id=input.chat_id, agent=input.agent)
        self.owner = input.owner
        self.parent = input.parent
        self.spec: AgentSpec | None = None
        self.refusal: ApplicationError | None = None
        self.opened = False
        self.active_turn: int | None = None
        self.stop_turn: int | None = None
        self.preload_wanted = False
        self.preload_client_data: dict[str, Any] | None = None
        self.updates = 0
        self.idle = False
        self.stepping: int | None = None
        """The turn whose LLM step is running right now, if any."""
        self.pending_start: TurnStartInput | None = None
        """The turn's start records, until a step activity has written them."""
        self.tools = ToolCalls(self)
        self.turn_usage = TokenUsage()
        """The running turn's usage (its steps, and a compaction during it)."""
        self.context_marks: dict[str, StreamMark] = {}
        """How far the running turn's compaction and title calls wrote the stream."""
        self.step_estimate: int | None = None
        """The estimated tokens of the prompt of the step under way (compacting agents)."""
        self.window_estimate = _context.WindowEstimate()
        self.silent = False
        """The main thread's steps stream nothing (a `respond` block not displayed)."""

    # -- main loop ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: ChatInput) -> ChatState:
        await self._open(input)
        while self.refusal is None:
            assert self.spec is not None
            move = _inbox.next_move(
                self.state,
                active_turn=self.active_turn,
                preload_wanted=self.preload_wanted,
                has_preload=self.spec.has_preload,
                idle=self.idle,
                continue_as_new_suggested=workflow.info().is_continue_as_new_suggested(),
                updates=self.updates,
            )
            if move is Move.QUEUE_STEERS:
                self._queue_pending_steers()
            elif move is Move.PRELOAD:
                await self._preload()
            elif move is Move.CONTINUE_AS_NEW:
                # Between turns only; the queue, the pending steers and the seen message ids
                # travel in the state, so nothing accepted is lost.
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    ChatInput(
                        chat_id=self.state.chat_id,
                        agent=self.state.agent,
                        state=self.state,
                        owner=self.owner,
                        parent=self.parent,
                    )
                )
            elif move is Move.RUN_TURN:
                await self._run_turn()
            elif move is Move.WIND_DOWN:
                # Ending: wait for handlers, but serve anything that raced in meanwhile.
                await workflow.wait_condition(
                    lambda: workflow.all_handlers_finished() or self._has_input()
                )
                if not self._has_input():
                    break
                self.idle = False
            else:  # Move.WAIT
                try:
                    await workflow.wait_condition(
                        lambda: self._has_input() or self.state.closed,
                        timeout=self._idle_timeout(),
                        timeout_summary="idle",
                    )
                except TimeoutError:
                    self.idle = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self.state.subchats and self.state.closed:
            await self._close_subchats()
        return self.state

    def _has_input(self) -> bool:
        return _inbox.has_input(self.state, preload_wanted=self.preload_wanted)

    def _queue_pending_steers(self) -> None:
        # A steer that found no step to join becomes the next turn: never dropped.
        for steer in self.state.pending_steers:
            self.state.message_turns[steer.message.id] = 0
        self.state.queue[:0] = self.state.pending_steers
        self.state.pending_steers = []

    async def _close_subchats(self) -> None:
        try:
            await workflow.execute_activity(
                CLOSE_CHATS,
                CloseChatsInput(chat_ids=self.state.subchats, agent=self.state.agent),
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=RetryPolicy(maximum_attempts=5),
            )
        except ActivityError as err:
            workflow.logger.warning(
                "chat %s: closing sub-chats failed: %s", self.state.chat_id, err
            )

    async def _open(self, input: ChatInput) -> None:
        info = workflow.info()
        restore = input.state is None and not input.new_chat and info.continued_run_id is None
        result: OpenChatResult = await _local(
            OPEN_CHAT,
            OpenChatInput(
                chat_id=input.chat_id,
                agent=input.agent,
                workflow_id=info.workflow_id,
                run_id=info.run_id,
                restore=restore,
                owner=input.owner,
                parent=input.parent,
                # A chat's first run checks its inputs; a continued one carries them.
                inputs=(input.inputs or {}) if input.state is None else None,
            ),
            OpenChatResult,
        )
        self.spec = result.spec
        # The owner the store has, fixed when it first recorded the chat (none for a chat
        # imported from before the store: whoever asks first must not get it).
        self.owner = result.owner
        if self.spec is None:
            self.refusal = _refuse(_inbox.unknown_agent(input.agent, info.task_queue))
        elif result.deleting:
            self.refusal = _refuse(_inbox.deleting(input.chat_id))
        elif result.inputs_error is not None:
            self.refusal = _refuse(Rejection(InvalidInputsError, result.inputs_error))
        restored = _inbox.restored_state(
            self.state, result.restored, chat_id=input.chat_id, agent=input.agent
        )
        if isinstance(restored, Rejection):
            self.refusal = _refuse(restored)
        elif restored is not None:
            self.state = restored
        # State only (no command): inputs are kept for the chat's life, resources start at
        # their defaults.
        if result.inputs is not None and not self.state.inputs:
            self.state.inputs = result.inputs
        if self.spec is not None:
            self.state.resources = _triggers.fill_resources(self.state, self.spec)
        self.opened = True

    def _idle_timeout(self) -> timedelta | None:
        seconds = self.spec.idle_timeout_seconds if self.spec else None
        return timedelta(seconds=seconds) if seconds else None

    async def _preload(self) -> None:
        assert self.spec is not None
        if self.spec.has_preload:
            client_data = self.preload_client_data
            if client_data is None and self.state.queue:
                client_data = self.state.queue[0].client_data
            try:
                result = await workflow.execute_activity(
                    RUN_PRELOAD,
                    PreloadHookInput(
                        chat_id=self.state.chat_id, agent=self.state.agent, client_data=client_data
                    ),
                    result_type=PreloadHookResult,
                    start_to_close_timeout=timedelta(minutes=5),
                    retry_policy=RetryPolicy(maximum_attempts=3),
                )
                self.state.preload_context = result.context
            except ActivityError as err:
                workflow.logger.warning("chat %s: preload hook failed: %s", self.state.chat_id, err)
        self.state.preloaded = True
        self.preload_wanted = False

    # -- one turn -----------------------------------------------------------------------------

    async def _run_turn(self) -> None:
        assert self.spec is not None
        item = self.state.queue.pop(0)
        turn = self.state.last_turn + 1
        self.state.last_turn = turn
        self.state.message_turns[item.message.id] = turn
        self.active_turn = turn
        assistant = UIMessage(id=str(workflow.uuid4()), role="assistant")
        # A trigger's carrier message stays out of the transcript: its blocks add messages.
        # Only runs on this code queue triggers; the marker shows one in a history.
        triggered = item.kind == "trigger" and workflow.patched("triggers")
        trigger = self._trigger(item) if triggered else None
        if not triggered:
            self.state.transcript.append(item.message)
        start = TurnStartInput(
            chat_id=self.state.chat_id,
            turn=turn,
            message_id=assistant.id,
            user_message_id=item.message.id,
            trigger="steer" if item.kind == "steer" else "submit-message",
        )
        # The first step writes the turn's start records itself: one local activity less
        # between the message and its first token. Runs recorded before that keep theirs.
        self.pending_start = start if workflow.patched("turn-start-in-step") else None
        if self.pending_start is None:
            await self.record(TURN_START, start)
        self.state.transcript.append(assistant)
        marks: dict[str, StreamMark] = {}
        self.tools.marks = {}
        self.context_marks = {}
        self.turn_usage = TokenUsage()
        end: _TurnEnd
        if triggered:  # state only: where a reader that lost the stream finds the answer
            self.state.trigger_answers[item.message.id] = assistant.id
        if not triggered:
            end = await self._respond(turn, assistant, item, marks, 0)
        elif trigger is None:  # accepted, then the agent lost it (a deployment meanwhile)
            end = ("failed", None, "the agent has no such trigger any more", None, 0)
        else:
            end = await self._handle(trigger[0], trigger[1], turn, assistant, item, marks)
        status, finish_reason, error_text, budget, step = end
        if budget is not None:
            status, error_text = "failed", _context.budget_message(budget, refused=step == 0)
        await self._end_turn(
            turn,
            assistant,
            status,
            finish_reason,
            error_text,
            {**marks, **self.tools.marks, **self.context_marks},
            budget,
        )
        # The turn's messages are final now: they join the settled prefix.
        fresh = self.state.transcript[self.state.settled :]
        self.state.settled_digest = fold_digest(self.state.settled_digest, fresh)
        self.state.settled = len(self.state.transcript)
        self._queue_pending_steers()
        self.tools.forget()
        self._forget_old_message_ids()

    async def _respond(
        self,
        turn: int,
        assistant: UIMessage,
        item: QueuedInput,
        marks: dict[str, StreamMark],
        step: int,
    ) -> _TurnEnd:
        """The agentic loop: LLM steps and their tool calls until the model answers, the turn
        is stopped, fails, runs out of steps or of budget. Steps count on from `step`."""
        assert self.spec is not None
        status: TurnStatus = "completed"
        finish_reason: str | None = None
        error_text: str | None = None
        budget = self._budget_spent()
        inject: list[UIMessage] = []
        first = step
        while budget is None:
            if self.stop_turn == turn:
                status = "stopped"
                break
            step += 1
            result, failure = await self._run_step(turn, step, assistant, inject, item)
            if result is not None:
                assistant.parts.extend(result.parts)
                finish_reason = result.finish_reason
                if result.stream is not None:
                    marks[step_producer(turn, step)] = result.stream
                self._count(result)
            if failure is not None:
                status, error_text = "failed", failure
                break
            if self.stop_turn == turn or (result is not None and result.stopped):
                status = "stopped"
                break
            assert result is not None
            budget = self._budget_exceeded()
            if budget is not None:  # its tool calls are not run: the turn ends here
                break
            if result.tool_calls:
                await self.tools.run(
                    turn, step, result.tool_calls, assistant, item, silent=self.silent
                )
                if self.stop_turn == turn:
                    status = "stopped"
                    break
            end = _inbox.after_step(
                tool_calls=bool(result.tool_calls),
                steers=bool(self.state.pending_steers),
                step=step - first,
                max_steps=self.spec.max_steps,
            )
            # Steers that arrived during the step join the turn (and the next step's input).
            inject = [s.message for s in self.state.pending_steers]
            self.state.pending_steers = []
            for message in inject:
                self.state.message_turns[message.id] = turn
            if end is StepEnd.ANSWERED:
                break
            if end is StepEnd.OUT_OF_STEPS:
                # Out of steps: steers not yet shown to the model run as the next turn.
                self.state.pending_steers[:0] = [
                    QueuedInput(message=m, kind="steer") for m in inject
                ]
                finish_reason = "tool-calls" if result.tool_calls else finish_reason
                break
        return status, finish_reason, error_text, budget, step

    # -- triggers -----------------------------------------------------------------------------

    def _trigger(self, item: QueuedInput) -> tuple[TriggerSpec, Any] | None:
        assert self.spec is not None
        found = trigger_of(item.message)
        trigger = _triggers.find(self.spec, found[0]) if found is not None else None
        if found is None or trigger is None:
            return None  # checked when it was accepted: only an agent changed since
        return trigger, found[1]

    async def _handle(
        self,
        trigger: TriggerSpec,
        value: Any,
        turn: int,
        assistant: UIMessage,
        item: QueuedInput,
        marks: dict[str, StreamMark],
    ) -> _TurnEnd:
        """Run a trigger's blocks in order; a `respond` that does not complete ends it."""
        assert self.spec is not None
        if self.pending_start is not None:  # blocks may write before any step does
            await self.record(TURN_START, self.pending_start)
            self.pending_start = None
        variables: dict[str, Any] = {}
        end: _TurnEnd = ("completed", None, None, None, 0)
        # Operation parts are new commands: only runs on this code stream them.
        operations = workflow.patched("operations")
        for index, block in enumerate(trigger.steps):
            if self.stop_turn == turn:
                return ("stopped", *end[1:])
            values = _triggers.template_values(self.state, self.spec, value, variables)
            shown = _triggers.operation(block) if operations else None
            if shown is not None:
                await self._operation(turn, index, block, shown, "running", assistant, marks)
            end, failed = await self._block(
                turn, index, block, values, variables, assistant, item, marks, end
            )
            if end[0] != "completed" or end[3] is not None:  # a respond that did not complete
                if shown is not None:
                    status = "stopped" if end[0] == "stopped" else "failed"
                    await self._operation(turn, index, block, shown, status, assistant, marks)
                return end
            if shown is not None:
                status = "failed" if failed else "done"
                await self._operation(turn, index, block, shown, status, assistant, marks)
        return end

    async def _block(
        self,
        turn: int,
        index: int,
        block: BlockSpec,
        values: dict[str, Any],
        variables: dict[str, Any],
        assistant: UIMessage,
        item: QueuedInput,
        marks: dict[str, StreamMark],
        end: _TurnEnd,
    ) -> tuple[_TurnEnd, bool]:
        """Run one block; returns how the turn stands after it and whether it failed."""
        failed = False
        if block.kind == "add_message":
            await self._add_message(turn, index, block, values, assistant, marks)
        elif block.kind == "respond":
            end, answer = await self._respond_block(
                block, values, turn, assistant, item, marks, end
            )
            if block.into:
                variables[block.into] = answer
        elif block.kind == "call_tool":
            outcome = await self._block_tool(turn, index, block, values, item, marks)
            failed = outcome.error is not None
            if block.into:
                variables[block.into] = (
                    outcome.output if outcome.error is None else {"error": outcome.error}
                )
        elif block.kind == "set_resource" and block.resource:
            changed = {block.resource: templates.render_value(block.template, values)}
            await self._set_resources(turn, f"t{turn}.b{index}.resource", changed, marks)
        elif block.kind == "start_thread" and block.thread:
            self.state.threads[block.thread] = _triggers.started(block)
        elif block.kind == "serialize_thread" and block.into:
            messages = self._thread_messages(block.thread, assistant)
            variables[block.into] = _triggers.serialize(messages, block.format)
        return end, failed

    async def _respond_block(
        self,
        block: BlockSpec,
        values: dict[str, Any],
        turn: int,
        assistant: UIMessage,
        item: QueuedInput,
        marks: dict[str, StreamMark],
        end: _TurnEnd,
    ) -> tuple[_TurnEnd, str]:
        """A `respond` block: the agentic loop in the main thread or a named one; returns how
        it ended and the text it answered."""
        silent = block.display not in (None, "stream")
        if block.thread is None:
            before = len(assistant.parts)
            self.silent = silent
            try:
                ended = await self._respond(turn, assistant, item, marks, end[4])
            finally:
                self.silent = False
            return ended, _triggers.text_of(assistant.parts[before:])
        thread = self._thread(block.thread)
        answer = UIMessage(
            id=str(workflow.uuid4()), role="assistant", metadata={"thread": block.thread}
        )
        thread.messages.append(answer)
        ended = await self._respond_thread(
            block.thread, thread, values, turn, answer, item, marks, end[4], silent
        )
        text = _triggers.text_of(answer.parts)
        if not silent:  # what the stream showed of it stays in the turn's answer (state only)
            assistant.parts.append(_triggers.thread_part(block.thread, answer.id, text))
        return ended, text

    async def _respond_thread(
        self,
        name: str,
        thread: ThreadState,
        values: dict[str, Any],
        turn: int,
        answer: UIMessage,
        item: QueuedInput,
        marks: dict[str, StreamMark],
        step: int,
        silent: bool,
    ) -> _TurnEnd:
        """The agentic loop of a named thread: its messages, instructions, model and tools
        only; steers wait for the main thread. Steps count on from `step`."""
        assert self.spec is not None
        instructions = templates.render(thread.instructions, values)
        finish_reason: str | None = None
        budget = self._budget_spent()
        if budget is not None:  # as a main turn would be: refused before any step
            return ("completed", None, None, budget, step)
        for taken in range(thread.max_steps):
            if self.stop_turn == turn:
                return ("stopped", finish_reason, None, None, step)
            step += 1
            # A thread's prompt is not the main thread's: it must not recalibrate the main
            # thread's prompt estimate (compaction).
            self.step_estimate = None
            result, failure = await self._step_activity(
                turn,
                step,
                answer,
                [],
                item,
                {"transcript": thread.messages},
                thread=(name, instructions, thread),
                silent=silent,
            )
            if result is not None:
                answer.parts.extend(result.parts)
                finish_reason = result.finish_reason
                if result.stream is not None:
                    marks[step_producer(turn, step)] = result.stream
                self._count(result)
            if self.stop_turn == turn or (result is not None and result.stopped):
                return ("stopped", finish_reason, None, None, step)
            if failure is not None:
                return ("failed", finish_reason, f"thread {name!r}: {failure}", None, step)
            assert result is not None
            budget = self._budget_exceeded()
            if budget is not None:
                return ("completed", finish_reason, None, budget, step)
            if not result.tool_calls:
                break
            await self.tools.run(turn, step, result.tool_calls, answer, item, silent=silent)
            if self.stop_turn == turn:
                return ("stopped", finish_reason, None, None, step)
            if taken + 1 == thread.max_steps:
                finish_reason = "tool-calls"
        return ("completed", finish_reason, None, None, step)

    def _thread(self, name: str) -> ThreadState:
        """A named thread of the chat; one used before this chat ran its `start_thread`
        starts as the agent's `start_thread` describes it."""
        thread = self.state.threads.get(name)
        if thread is None:
            thread = self.state.threads[name] = _triggers.unstarted(self.spec, name)
        return thread

    def _thread_messages(self, name: str | None, assistant: UIMessage) -> list[UIMessage]:
        """A thread's messages: the main one's are the transcript (without the turn's answer
        while it is still empty)."""
        if name is None:
            return [m for m in self.state.transcript if m is not assistant or m.parts]
        thread = self.state.threads.get(name)
        return thread.messages if thread is not None else []

    async def _operation(
        self,
        turn: int,
        index: int,
        block: BlockSpec,
        label: str,
        status: str,
        assistant: UIMessage,
        marks: dict[str, StreamMark],
    ) -> None:
        """Stream a block's operation part (running, then done or failed); the last one stays
        in the answer's parts, so history shows what ran."""
        part = _triggers.operation_part(turn, index, block, label, status)
        if status != "running":
            assistant.parts.append(part)
        await self._publish(turn, f"t{turn}.b{index}.{status}", [part], marks)

    async def _add_message(
        self,
        turn: int,
        index: int,
        block: BlockSpec,
        values: dict[str, Any],
        assistant: UIMessage,
        marks: dict[str, StreamMark],
    ) -> None:
        """Put a message in the transcript before the turn's answer (what the model reads);
        a shown one is also streamed, as a transient `data-message` chunk."""
        text = templates.render(block.template, values)
        metadata: dict[str, Any] = {"hidden": True} if block.hidden else {}
        if block.thread is not None:
            metadata["thread"] = block.thread
        message = UIMessage(
            id=str(workflow.uuid4()),
            role=block.role,
            parts=[{"type": "text", "text": text}],
            metadata=metadata or None,
        )
        if block.thread is None:
            self.state.transcript.insert(self.state.transcript.index(assistant), message)
        else:
            self._thread(block.thread).messages.append(message)
        if block.hidden:
            return
        # Transient: readers see it live; history has the message itself, not a copy of it.
        data: dict[str, Any] = {"role": block.role, "text": text}
        if block.thread is not None:
            data["thread"] = block.thread
        part = {"type": "data-message", "id": message.id, "data": data, "transient": True}
        await self._publish(turn, f"t{turn}.b{index}.message", [part], marks)

    async def _block_tool(
        self,
        turn: int,
        index: int,
        block: BlockSpec,
        values: dict[str, Any],
        item: QueuedInput,
        marks: dict[str, StreamMark],
    ) -> ToolOutcome:
        """Run a tool for a handler, as the usual tool activity, streaming no output."""
        assert self.spec is not None and block.tool is not None
        spec = next((t for t in self.spec.tools if t.name == block.tool), None)
        call = ToolCallRecord(
            id=f"b{index}", name=block.tool, input=templates.render_value(block.input, values)
        )
        timeout = spec.timeout_seconds if spec is not None else 300.0
        handle = workflow.start_activity(
            TOOL_CALL,
            ToolCallInput(
                chat_id=self.state.chat_id,
                agent=self.state.agent,
                turn=turn,
                step=0,
                call=call,
                client_data=item.client_data,
                inputs=self.state.inputs,
                resources=self.state.resources,
                silent=True,
            ),
            result_type=ToolOutcome,
            start_to_close_timeout=timedelta(seconds=timeout),
            heartbeat_timeout=timedelta(seconds=spec.heartbeat_seconds if spec else 5.0),
            retry_policy=RetryPolicy(maximum_attempts=spec.max_attempts if spec else 3),
            cancellation_type=ActivityCancellationType.TRY_CANCEL,
            summary=f"turn {turn} block {index + 1} tool {block.tool}",
        )
        await self.await_or_stop(handle, turn)
        try:
            outcome: ToolOutcome = await handle
        except ActivityError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(err)
            return ToolOutcome(error=f"{block.tool} failed: {message}")
        if outcome.stream is not None:
            marks[tool_producer(turn, 0, call.id)] = outcome.stream
        self.state.resources.update(outcome.resources)
        return outcome

    async def _set_resources(
        self, turn: int, producer: str, changed: dict[str, Any], marks: dict[str, StreamMark]
    ) -> None:
        """Keep new resource values with the chat and stream each as a `data-resource`."""
        self.state.resources.update(changed)
        chunks = [resource_chunk(name, value) for name, value in changed.items()]
        await self._publish(turn, producer, chunks, marks)

    async def _publish(
        self, turn: int, producer: str, chunks: list[dict[str, Any]], marks: dict[str, StreamMark]
    ) -> None:
        """Stream chunks the workflow itself writes (one record each) as `producer`."""
        marks[producer] = StreamMark(seq=len(chunks))
        await self.record(
            PUBLISH,
            PublishInput(chat_id=self.state.chat_id, turn=turn, producer=producer, chunks=chunks),
        )

    async def _end_turn(
        self,
        turn: int,
        assistant: UIMessage,
        status: TurnStatus,
        finish_reason: str | None,
        error_text: str | None,
        marks: dict[str, StreamMark],
        budget: _context.Budget | None = None,
    ) -> None:
        """Record the turn's end (after its start, if no step wrote that)."""
        if self.pending_start is not None:  # no step ever ran: announce the turn before its end
            await self.record(TURN_START, self.pending_start)
            self.pending_start = None
        error_type = TokenBudgetExceededError.__name__ if budget is not None else None
        if status == "failed":
            assistant.metadata = {"status": "failed", "error": error_text}
            if error_type is not None:
                assistant.metadata["errorType"] = error_type
        elif status == "stopped":
            assistant.metadata = {"status": "stopped"}
        # From here the turn takes no more input: a steer arriving now is the next turn.
        self.active_turn = None
        self.stop_turn = None
        # The title first: its tokens are in the chat's total that the turn's save stores.
        assert self.spec is not None
        if _context.wants_title(self.spec, self.state, status) and workflow.patched("chat-title"):
            await self._title(turn, marks)
        if workflow.patched("chat-store"):
            await self._save_turn(turn)
        await self.record(
            TURN_END,
            TurnEndInput(
                chat_id=self.state.chat_id,
                turn=turn,
                status=status,
                finish_reason=finish_reason,
                error_text=error_text,
                marks=marks,
                usage=self.turn_usage,
                chat_usage=self.state.usage,
                error_type=error_type,
                budget=budget.details() if budget is not None else None,
            ),
        )

    # -- usage, budgets, titles ---------------------------------------------------------------

    def _count(self, result: StepResult) -> None:
        """Add a step's usage to the turn's and the chat's; note its prompt's size."""
        used = result.usage()
        self.turn_usage.add(used)
        self.state.usage.add(used)
        if self.step_estimate is not None:
            self.state.prompt_tokens = result.input_tokens
            self.state.prompt_estimate = self.step_estimate

    def _budget_spent(self) -> _context.Budget | None:
        """The chat's budget when none is left: the turn is refused before any step."""
        assert self.spec is not None
        budget = _context.chat_budget_spent(self.spec, self.state.usage)
        # Runs recorded before budgets never saw one (their spec had none): no patch needed
        # for them, but the marker shows in a history that a budget ended a turn.
        return budget if budget is not None and workflow.patched("token-budgets") else None

    def _budget_exceeded(self) -> _context.Budget | None:
        """The budget the turn went over with its last step, if any."""
        assert self.spec is not None
        budget = _context.budget_exceeded(self.spec, self.turn_usage, self.state.usage)
        return budget if budget is not None and workflow.patched("token-budgets") else None

    async def _title(self, turn: int, marks: dict[str, StreamMark]) -> None:
        """Generate the chat's title (once, after its first turn); a failure is only logged."""
        state = self.state
        state.titled = True
        text, user_text = _context.title_source(state.transcript[state.settled :])
        producer = f"t{turn}.title"
        try:
            result: TitleResult = await workflow.execute_activity(
                TITLE,
                TitleInput(
                    chat_id=state.chat_id,
                    agent=state.agent,
                    turn=turn,
                    producer=producer,
                    text=text,
                    user_text=user_text,
                ),
                result_type=TitleResult,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=_TITLE_RETRY,
                summary=f"turn {turn} title",
            )
        except ActivityError as err:
            workflow.logger.warning("chat %s: no title generated: %s", state.chat_id, err)
            return
        state.usage.add(result.usage)
        if result.stream is not None:
            marks[producer] = result.stream

    async def _save_turn(self, turn: int) -> None:
        """Write the turn's messages to the chat store before its end is reported: a reader
        that saw the end finds the turn in `history()` whatever becomes of this run."""
        state = self.state
        try:
            await workflow.execute_local_activity(
                SAVE_TURN,
                SaveTurnInput(
                    chat_id=state.chat_id,
                    agent=state.agent,
                    turn=turn,
                    start=state.settled,
                    messages=state.transcript[state.settled :],
                    state=state.kept(),
                    owner=self.owner,
                    parent=self.parent,
                    usage=self.turn_usage,
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_SAVE_RETRY,
            )
        except ActivityError as err:  # only what no retry can mend (a bug, bad data)
            workflow.logger.error("chat %s: turn %d not saved: %s", state.chat_id, turn, err)

    async def record(self, activity: str, arg: Any) -> None:
        """Write a turn's start or end record. Redis is a cache: after retrying for a while,
        an outage costs the live stream, never the turn (the transcript has it)."""
        try:
            await _local(activity, arg)
        except ActivityError as err:
            workflow.logger.warning(
                "chat %s: %s not recorded: %s", self.state.chat_id, activity, err
            )

    async def _run_step(
        self,
        turn: int,
        step: int,
        assistant: UIMessage,
        inject: list[UIMessage],
        item: QueuedInput,
    ) -> tuple[StepResult | None, str | None]:
        """Run one LLM step; returns its result (possibly partial) or the failure text."""
        assert self.spec is not None
        state = self.state
        await self._maybe_compact(turn, step, assistant, inject)
        # Steps get the settled part of the transcript by reference (the worker caches it) and
        # only what is new by value, so inputs and history stay flat as the chat grows. A
        # compacted chat's steps get its window only: the messages from the compaction on.
        start = _context.window_start(state)
        transcript = {
            "transcript": state.transcript[state.settled :],
            "prefix_digest": state.settled_digest,
            "prefix_len": state.settled - start,
            **self._sent_delta(start),
        }
        for _ in range(2):
            result, failure = await self._step_activity(
                turn, step, assistant, inject, item, transcript
            )
            state.sent, state.sent_digest = state.settled, state.settled_digest
            if failure != _NOT_CACHED:
                return result, failure
            transcript = {
                "transcript": state.transcript[start:],
                "prefix_digest": state.settled_digest,
                "prefix_len": state.settled - start,
                "full": True,
                "attempt_base": self.spec.step_max_attempts,
            }
        return None, "the step's transcript could not be delivered"  # pragma: no cover

    def _sent_delta(self, start: int) -> dict[str, Any]:
        """The settled messages the worker's cache lacks: those since the last step's prefix,
        or the whole window when that prefix began elsewhere (before a compaction)."""
        state = self.state
        if state.sent >= start:
            return {
                "base_digest": state.sent_digest,
                "delta": state.transcript[state.sent : state.settled],
            }
        return {"base_digest": "", "delta": state.transcript[start : state.settled]}

    # -- compaction ---------------------------------------------------------------------------

    async def _maybe_compact(
        self, turn: int, step: int, assistant: UIMessage, inject: list[UIMessage]
    ) -> None:
        """Summarise the window's older turns when the next prompt would not fit (see
        `_context.plan_compaction`), and note the estimate of the prompt the step sends."""
        assert self.spec is not None
        state = self.state
        self.step_estimate = None
        if not self.spec.context_window or self.spec.compaction is None:
            return
        prompt = self.window_estimate.prompt(state, inject)
        plan = _context.plan_compaction(state, self.spec, extra=inject, prompt=prompt)
        if plan is not None and workflow.patched("compaction"):
            if self.pending_start is not None:  # the turn's start goes before the summary
                await self.record(TURN_START, self.pending_start)
                self.pending_start = None
            result = await self._compact(turn, step, plan)
            if result is not None:
                # Recorded before anything else happens: a replay or a retry of what follows
                # never summarises again.
                previous = state.compaction
                state.compaction = Compacted(
                    upto=plan.upto,
                    summary=result.summary,
                    turn=turn,
                    count=previous.count + 1 if previous is not None else 1,
                )
                state.settled_digest = fold_digest("", state.transcript[plan.upto : state.settled])
                state.sent, state.sent_digest = plan.upto, ""
                assistant.parts.append(result.part)
                self.turn_usage.add(result.usage)
                state.usage.add(result.usage)
                if result.stream is not None:
                    self.context_marks[f"t{turn}.s{step}.compact"] = result.stream
        self.step_estimate = self.window_estimate.prompt(state, inject) if plan else prompt

    async def _compact(
        self, turn: int, step: int, plan: _context.CompactionPlan
    ) -> CompactResult | None:
        """Run the summary activity (resending the window once if the worker lacks it)."""
        assert self.spec is not None and self.spec.context_window is not None
        state = self.state
        base = {
            "chat_id": state.chat_id,
            "agent": state.agent,
            "turn": turn,
            "step": step,
            "producer": f"t{turn}.s{step}.compact",
            "part_id": f"compaction-t{turn}s{step}",
            "count": plan.upto - plan.start,
            "previous": state.compaction.summary if state.compaction is not None else None,
            "upto": plan.upto,
            "context_window": self.spec.context_window,
            "prefix_digest": state.settled_digest,
            "prefix_len": state.settled - plan.start,
        }
        ref: dict[str, Any] = self._sent_delta(plan.start)
        for _ in range(2):
            try:
                result: CompactResult = await workflow.execute_activity(
                    COMPACT,
                    CompactInput(**base, **ref),
                    result_type=CompactResult,
                    start_to_close_timeout=timedelta(seconds=self.spec.step_timeout_seconds),
                    heartbeat_timeout=timedelta(seconds=self.spec.step_heartbeat_seconds),
                    retry_policy=RetryPolicy(
                        initial_interval=_STEP_RETRY_FIRST,
                        maximum_interval=_STEP_RETRY_MAX,
                        maximum_attempts=self.spec.step_max_attempts,
                        non_retryable_error_types=[
                            "ModelRequestError",
                            "EmptySummary",
                            UnknownAgentError.__name__,
                            "TranscriptNotCached",
                        ],
                    ),
                    summary=f"turn {turn} compaction",
                )
                return result
            except ActivityError as err:
                cause = err.cause
                if isinstance(cause, ApplicationError) and cause.type == "TranscriptNotCached":
                    ref = {
                        "transcript": state.transcript[plan.start : state.settled],
                        "full": True,
                        "attempt_base": self.spec.step_max_attempts,
                    }
                    continue
                # Not compacted: the step goes on with the whole window (it may not fit).
                workflow.logger.warning("chat %s: compaction failed: %s", state.chat_id, err)
                return None
        return None  # pragma: no cover

    async def _step_activity(
        self,
        turn: int,
        step: int,
        assistant: UIMessage,
        inject: list[UIMessage],
        item: QueuedInput,
        transcript: dict[str, Any],
        *,
        thread: tuple[str, str, ThreadState] | None = None,
        silent: bool | None = None,
    ) -> tuple[StepResult | None, str | None]:
        assert self.spec is not None
        threaded: dict[str, Any] = {}
        if thread is not None:  # a named thread's step: nothing of the main thread's
            name, instructions, state = thread
            threaded = {
                "thread": name,
                "thread_instructions": instructions,
                "model": state.model,
                "tools": state.tools,
            }
        handle = workflow.start_activity(
            LLM_STEP,
            StepInput(
                chat_id=self.state.chat_id,
                agent=self.state.agent,
                turn=turn,
                step=step,
                message_id=assistant.id,
                inject=inject,
                client_data=item.client_data,
                preload_context=self.state.preload_context,
                start=self.pending_start,
                summary=self.state.compaction.summary if self.state.compaction else None,
                window_start=_context.window_start(self.state),
                inputs=self.state.inputs,
                resources=self.state.resources,
                owner=self.owner,
                silent=self.silent if silent is None else silent,
                **transcript,
                **threaded,
            ),
            result_type=StepResult,
            start_to_close_timeout=timedelta(seconds=self.spec.step_timeout_seconds),
            heartbeat_timeout=timedelta(seconds=self.spec.step_heartbeat_seconds),
            # The SDK's own retries are off: Temporal's run instead (see _STEP_RETRY_FIRST).
            retry_policy=RetryPolicy(
                initial_interval=_STEP_RETRY_FIRST,
                maximum_interval=_STEP_RETRY_MAX,
                maximum_attempts=self.spec.step_max_attempts,
                non_retryable_error_types=[
                    "ModelRequestError",
                    UnknownAgentError.__name__,
                    "TranscriptNotCached",
                ],
            ),
            # A cancelled step still hands back the partial answer the user already saw.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=f"turn {turn} step {step}",
        )
        self.stepping = turn
        await self.await_or_stop(handle, turn)
        try:
            result: StepResult = await handle
            self.pending_start = None
            return result, None
        except ActivityError as err:
            if isinstance(err.cause, CancelledError):
                self.pending_start = None  # it ran, and wrote the turn's start first
                return None, None
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == "TranscriptNotCached":
                return None, _NOT_CACHED  # it wrote nothing: the resend opens the turn
            self.pending_start = None  # a failing step still flushed the turn's start first
            return None, str(cause.message if isinstance(cause, ApplicationError) else err)
        finally:
            self.stepping = None

    async def await_or_stop(self, handle: asyncio.Future[Any], turn: int) -> None:
        """Wait for an activity; on stop, let it hand back within the grace, then cancel it."""
        await workflow.wait_condition(lambda: handle.done() or self.stop_turn == turn)
        if handle.done():
            return
        # The activity polls a Redis flag and returns within milliseconds; set the flag too
        # (the stop may not have come through Redis), and cancel only if it does not return.
        await self.record(FLAG_STOP, TurnStopInput(chat_id=self.state.chat_id, turn=turn))
        try:
            await workflow.wait_condition(handle.done, timeout=STOP_GRACE)
        except TimeoutError:
            handle.cancel()

    def _forget_old_message_ids(self) -> None:
        for key in _inbox.forgotten_ids(self.state.message_turns):
            del self.state.message_turns[key]
            self.state.trigger_answers.pop(key, None)

    # -- input --------------------------------------------------------------------------------
    # The decisions are `_inbox`'s; the handlers wait, raise and keep the state.

    def _screen(self, req: SendInput, kind: InputKind) -> None:
        on_busy = self.spec.on_busy if self.opened and self.spec is not None else None
        rejection = _inbox.screen(
            self.state, req.message, kind=kind, on_busy=on_busy, active_turn=self.active_turn
        )
        if rejection is not None:
            raise _refuse(rejection)

    async def _accept(self, req: SendInput) -> SendAck:
        self.updates += 1
        await workflow.wait_condition(lambda: self.opened)
        if self.refusal is not None:
            raise self.refusal
        assert self.spec is not None  # no agent, no run: it refused
        foreign = _inbox.check_owner(self.state.chat_id, self.owner, req.owner)
        if foreign is not None:
            raise _refuse(foreign)
        if req.kind == "trigger":  # the first update arrives before the agent is known
            unfit = _triggers.check(self.spec, req.message)
            if unfit is not None:
                raise _refuse(unfit)
        info = workflow.info()
        admission = _inbox.admit(
            self.state, req, active_turn=self.active_turn, on_busy=self.spec.on_busy
        )
        if admission.rejection is not None:
            raise _refuse(admission.rejection)
        message_id = req.message.id
        ack = SendAck(
            chat_id=self.state.chat_id,
            message_id=message_id,
            run_id=info.run_id,
            new_run=self.updates == 1 and info.continued_run_id is None,
        )
        if admission.verdict is Verdict.DUPLICATE:
            return ack.model_copy(update={"duplicate": True, "turn": admission.turn})
        queued = QueuedInput(message=req.message, kind=req.kind, client_data=req.client_data)
        if admission.verdict is Verdict.INJECT:
            self.state.pending_steers.append(queued)
            return ack.model_copy(update={"injected": True, "turn": admission.turn})
        if admission.verdict is Verdict.INTERRUPT:
            self.stop_turn = admission.turn
        self.state.queue.append(queued)
        self.state.message_turns[message_id] = 0
        return ack

    @workflow.update(name="send")
    async def send(self, req: SendInput) -> SendAck:
        """Queue a user message as a turn (or answer a duplicate with its original ack)."""
        return await self._accept(req.model_copy(update={"kind": "message"}))

    @send.validator
    def _validate_send(self, req: SendInput) -> None:
        self._screen(req, "message")

    @workflow.update(name="steer")
    async def steer(self, req: SendInput) -> SendAck:
        """Join the running turn at its next step, or become the next turn if none runs."""
        return await self._accept(req.model_copy(update={"kind": "steer"}))

    @steer.validator
    def _validate_steer(self, req: SendInput) -> None:
        self._screen(req, "steer")

    @workflow.update(name="trigger")
    async def trigger(self, req: SendInput) -> SendAck:
        """Queue one of the agent's triggers as a turn (its carrier message gives it an id)."""
        return await self._accept(req.model_copy(update={"kind": "trigger"}))

    @trigger.validator
    def _validate_trigger(self, req: SendInput) -> None:
        self._screen(req, "trigger")
        if self.opened and self.spec is not None:
            unfit = _triggers.check(self.spec, req.message)
            if unfit is not None:
                raise _refuse(unfit)

    @workflow.update(name="stop")
    def stop(self, req: StopInput) -> StopAck:
        """End the running turn, keeping its partial answer. No turn running: do nothing."""
        self.updates += 1
        if self.active_turn is None:
            return StopAck(turn=None)
        self.stop_turn = self.active_turn
        return StopAck(turn=self.active_turn)

    @workflow.update(name="close")
    def close(self, req: CloseInput) -> CloseAck:
        """Finish the running turn and any queued input, then end the run."""
        self.updates += 1
        self.state.closed = True
        return CloseAck(run_id=workflow.info().run_id, active_turn=self.active_turn)

    @workflow.update(name="preload")
    async def preload(self, req: PreloadInput) -> PreloadAck:
        """Run the agent's preload hook now, before any message."""
        self.updates += 1
        await workflow.wait_condition(lambda: self.opened)
        if self.refusal is not None:
            raise self.refusal
        rejection = _inbox.check_owner(
            self.state.chat_id, self.owner, req.owner
        ) or _inbox.check_preload(self.state, req.agent)
        if rejection is not None:
            raise _refuse(rejection)
        if not self.state.preloaded:
            self.preload_client_data = req.client_data
            self.preload_wanted = True
            await workflow.wait_condition(lambda: self.state.preloaded)
        return PreloadAck(run_id=workflow.info().run_id, preloaded=self.state.preloaded)

    @workflow.update(name="tool_result")
    def tool_result(self, req: ToolResultInput) -> ToolResultAck:
        """The caller's answer to a client tool call."""
        self.updates += 1
        return self.tools.answer(req)

    @tool_result.validator
    def _validate_tool_result(self, req: ToolResultInput) -> None:
        self.tools.check_answer(req)

    @workflow.update(name="approval")
    def approval(self, req: ApprovalInput) -> ToolResultAck:
        """Approve or deny a tool call that requires approval."""
        self.updates += 1
        return self.tools.decide(req)

    @approval.validator
    def _validate_approval(self, req: ApprovalInput) -> None:
        self.tools.check_decision(req)

    # -- queries ------------------------------------------------------------------------------

    @workflow.query(name="status")
    def status(self) -> ChatStatus:
        return ChatStatus(
            chat_id=self.state.chat_id,
            agent=self.state.agent,
            active_turn=self.active_turn,
            last_turn=self.state.last_turn,
            queued=len(self.state.queue),
            closed=self.state.closed,
            message_turns=self.state.message_turns,
        )

    @workflow.query(name="state")
    def current_state(self) -> ChatState:
        return self.state
