"""The LLM step activity: stream one model call into the chat's stream, return the result.

Only the final step result goes back to the workflow; every token goes to Redis. A retried
attempt writes under the same producer with a higher attempt number, which the stream marks
with `attempt-start` so readers drop what the superseded attempt wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import orjson
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agentchat import metrics
from agentchat.activities.files import model_events
from agentchat.activities.observe import TurnTracker
from agentchat.activities.prefetch import StepPrefetch, model_request, step_request
from agentchat.activities.transcripts import TranscriptCache
from agentchat.agent import Agent
from agentchat.errors import RedisUnavailableError
from agentchat.models import Model, ModelRequestError, StepFinish, TextDelta
from agentchat.models.base import (
    ModelEvent,
    ReasoningDelta,
    ReasoningEnd,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    _Retryable,
)
from agentchat.protocol.contracts import StepInput, StepResult, StreamMark, ToolCallRecord
from agentchat.protocol.envelope import step_producer
from agentchat.protocol.messages import MessageBuilder, UIMessage
from agentchat.protocol.tool_display import client_tool_chunk, marked_tool_chunk
from agentchat.settings import Settings
from agentchat.stream._store import StreamStore, StreamWriter
from agentchat.tools import Tool

__all__ = ["run_llm_step"]

HEARTBEAT_EVERY = 0.5
"""Seconds between two heartbeats of a step. The worker sends them on at most every second
(`agentchat.worker._worker.HEARTBEAT_THROTTLE`); beating twice as often keeps one waiting
whenever that window opens, so Temporal hears from a live step every second."""

log = logging.getLogger("agentchat.activities")


async def run_llm_step(
    store: StreamStore,
    agent: Agent,
    step: StepInput,
    transcripts: TranscriptCache,
    turns: TurnTracker | None = None,
    prefetch: StepPrefetch | None = None,
    settings: Settings | None = None,
) -> StepResult:
    began = time.monotonic()  # time to first token counts from here (see agentchat.metrics)
    info = activity.info()
    prefetched = prefetch.claim(step, info.attempt) if prefetch is not None else None
    # Before writing anything: a miss is resent.
    transcript = prefetched.transcript if prefetched is not None else transcripts.resolve(step)
    writer = StreamWriter(
        store,
        step.chat_id,
        producer=step_producer(step.turn, step.step),
        attempt=step.attempt_base + info.attempt,
        turn=step.turn,
        thread=step.thread,
    )
    recorder = _StepRecorder(writer, agent, step, began)
    if step.start is not None:  # this step opens the turn: its records go first
        start = step.start
        if turns is not None:
            turns.started(step.chat_id, step.turn, agent.name, info.attempt)
        writer.open_turn(start.message_id, start.user_message_id, start.trigger)
    for steer in step.inject:
        text = "".join(str(p.get("text", "")) for p in steer.parts if p.get("type") == "text")
        part = {"type": "data-steer", "id": steer.id, "data": {"text": text, "messageId": steer.id}}
        writer.control("input", kind="steer", messageId=steer.id, state="injected")
        recorder.emit(part)
    recorder.emit({"type": "start-step"})

    model = agent.model_for(step.model)
    if prefetched is not None:  # begun while Temporal recorded this step (see .prefetch)
        events = prefetched.events()
    elif step.thread is None and agent.has_dynamic_instructions:
        events = _dynamic_events(agent, model, step, transcript, settings)
    else:
        events = model_events(agent, model, model_request(agent, step, transcript), settings)

    writer.start()
    model_task = asyncio.create_task(
        recorder.consume(events), name=f"model {step.chat_id} t{step.turn}"
    )
    beat = asyncio.create_task(_heartbeat(), name="heartbeat")
    stop_watch = asyncio.create_task(_watch_stop(writer), name="stop watch")
    stopped = False
    failed = True
    try:
        stopped = await _until_done_or_stopped(model_task, stop_watch, writer)
        failed = False
    except Exception as exc:
        raise _step_failure(exc, agent) from None
    finally:
        for task in (stop_watch, model_task):
            task.cancel()
        recorder.close_text()
        if (
            not stopped
            and model_task.done()
            and not model_task.cancelled()
            and model_task.exception() is None
            and not step.silent
        ):
            writer.chunk({"type": "finish-step"})
        await _close(writer, beat, failed=failed)
    finish = recorder.finish
    model_name = model.name
    metrics.llm_step(agent.name, "stopped" if stopped else "ok")
    metrics.tokens(
        agent.name,
        model_name,
        input=finish.input_tokens,
        output=finish.output_tokens,
        cached=finish.cached_tokens,
        reasoning=finish.reasoning_tokens,
    )
    log.debug("step %d %s: %s", step.step, "stopped" if stopped else "done", finish.finish_reason)
    return StepResult(
        parts=recorder.message.take_parts(),
        tool_calls=recorder.calls,
        finish_reason=finish.finish_reason,
        stopped=stopped,
        input_tokens=finish.input_tokens,
        output_tokens=finish.output_tokens,
        cached_tokens=finish.cached_tokens,
        reasoning_tokens=finish.reasoning_tokens,
        model=model_name,
        stream=StreamMark(seq=writer.seq, attempt=writer.attempt),
    )


async def _dynamic_events(
    agent: Agent,
    model: Model,
    step: StepInput,
    transcript: list[UIMessage],
    settings: Settings | None,
) -> AsyncIterator[ModelEvent]:
    """The step's model events once the agent's instructions function has written the
    prompt (in the model task: what it raises fails the step like a model error)."""
    try:
        request = await step_request(agent, step, transcript)
    except Exception as exc:
        # Its message may name a database or a user: the worker's log has it, the turn's
        # error (which clients see) only its type.
        log.warning(
            "chat %s: the instructions of agent %s failed", step.chat_id, agent.name, exc_info=True
        )
        raise ApplicationError(
            f"the instructions of agent {agent.name!r} failed ({type(exc).__name__});"
            " the worker's log has the details",
            type="InstructionsFailed",
        ) from None
    async for event in model_events(agent, model, request, settings):
        yield event


_THREAD_TAGGED = frozenset(
    {
        "text-start",
        "text-delta",
        "text-end",
        "reasoning-start",
        "reasoning-delta",
        "reasoning-end",
        "tool-input-start",
        "tool-input-available",
    }
)
"""The chunks whose `providerMetadata` names a named thread (the AI SDK keeps it on the part)."""


class _StepRecorder:
    """A step's model events -> the chunks it writes, and its parts as the fold of them.

    Every chunk goes through `emit`, so the transcript and every reader of the stream agree
    on what this step said.
    """

    def __init__(self, writer: StreamWriter, agent: Agent, step: StepInput, began: float):
        self.writer = writer
        self.agent = agent
        self.step = step
        self.began = began
        self.message = MessageBuilder(step.message_id)
        self.calls: list[ToolCallRecord] = []
        self.finish = StepFinish("stop")
        self._text_id: str | None = None
        self._reasoning_id: str | None = None
        self._started_calls: set[str] = set()
        self._quiet: dict[str, Tool] = {}
        """Call id -> its tool, for calls of tools not displayed "stream" (see `_emit_call`)."""
        self._first_token = False
        self._silent = step.silent
        self._thread = {"thread": step.thread} if step.thread is not None else None
        # A thread's model may call the tools it was given only, whatever else it names.
        self._thread_tools = frozenset(step.tools or ()) if step.thread is not None else None

    def emit(self, chunk: dict[str, Any]) -> None:
        if self._thread is not None and chunk.get("type") in _THREAD_TAGGED:
            metadata = chunk.get("providerMetadata") or {}
            agentchat = {**metadata.get("agentchat", {}), **self._thread}
            chunk = {**chunk, "providerMetadata": {**metadata, "agentchat": agentchat}}
        if not self._silent:
            self.writer.chunk(chunk)
        self.message.apply_wire(chunk)

    async def consume(self, events: AsyncIterator[ModelEvent]) -> None:
        async for event in events:
            if isinstance(event, TextDelta):  # per token: kept inline
                if not event.text:
                    continue
                if not self._first_token:
                    self._got_first_token()
                if self._text_id is None:
                    self.close_reasoning()
                    self._text_id = f"{self.step.message_id}-s{self.step.step}-{len(self.message)}"
                    self.emit({"type": "text-start", "id": self._text_id})
                self.emit({"type": "text-delta", "id": self._text_id, "delta": event.text})
            elif isinstance(event, ReasoningDelta):
                if event.text:
                    part_id = self._reasoning()
                    self.emit({"type": "reasoning-delta", "id": part_id, "delta": event.text})
            elif isinstance(event, ReasoningEnd):
                self._reasoning()  # a redacted block ends without having streamed
                self.close_reasoning(event.provider_metadata)
            elif isinstance(event, ToolCallStart):
                self._call_begins(event.id, event.name)
            elif isinstance(event, ToolCallDelta):
                if self._quiet and event.id in self._quiet:
                    continue  # its tool shows clients no streamed input; the fold needs none
                self.emit(
                    {
                        "type": "tool-input-delta",
                        "toolCallId": event.id,
                        "inputTextDelta": event.text,
                    }
                )
            elif isinstance(event, ToolCall):
                self._call_begins(event.id, event.name)
                self.calls.append(
                    _record_call(event, self._emit_call, self.agent, self._thread_tools)
                )
            elif isinstance(event, StepFinish):
                self.finish = event

    def close_text(self) -> None:
        if self._text_id is not None:
            self.emit({"type": "text-end", "id": self._text_id})
            self._text_id = None
        self.close_reasoning()

    def _reasoning(self) -> str:
        """The open reasoning part's id, opening one (the model's first token) if none is."""
        if self._reasoning_id is None:
            if not self._first_token:
                self._got_first_token()
            self.close_text()
            self._reasoning_id = f"{self.step.message_id}-s{self.step.step}-{len(self.message)}"
            self.emit({"type": "reasoning-start", "id": self._reasoning_id})
        return self._reasoning_id

    def close_reasoning(self, provider_metadata: dict[str, Any] | None = None) -> None:
        """End the open reasoning part; its provider metadata (a signature) goes on its end."""
        if self._reasoning_id is not None:
            end: dict[str, Any] = {"type": "reasoning-end", "id": self._reasoning_id}
            if provider_metadata:
                end["providerMetadata"] = provider_metadata
            self.emit(end)
            self._reasoning_id = None

    def _got_first_token(self) -> None:
        self._first_token = True
        metrics.first_token(self.agent.name, time.monotonic() - self.began)

    def _call_begins(self, call_id: str, name: str) -> None:
        """A tool call's first event (its start, or the whole call when it came unstreamed)."""
        if not self._first_token:
            self._got_first_token()
        self.close_text()
        if call_id not in self._started_calls:
            self._started_calls.add(call_id)
            tool = self.agent.tool(name)  # once per call: a tool's display is all it needs
            if tool is not None and tool.display != "stream":
                self._quiet[call_id] = tool
            self._emit_call({"type": "tool-input-start", "toolCallId": call_id, "toolName": name})

    def _emit_call(self, chunk: dict[str, Any]) -> None:
        """A tool call's chunk: whole for the transcript, on the stream as its tool's display
        allows (`agentchat.protocol.tool_display`). Calls of "stream" tools cost nothing more
        than the lookup of their id while any call of the step is quiet."""
        tool = self._quiet.get(chunk["toolCallId"]) if self._quiet else None
        if tool is None:
            self.emit(chunk)
            return
        display, description = tool.display, tool.description
        shown = client_tool_chunk(chunk, display, description, client_runs=tool.is_client)
        if shown is not None:
            self.emit(shown)  # what clients see; the transcript's fold is overridden next
        silent, self._silent = self._silent, True  # fold, not write: `emit` tags it as usual
        try:
            self.emit(marked_tool_chunk(chunk, display, description))
        finally:
            self._silent = silent


async def _until_done_or_stopped(
    model_task: asyncio.Task[None], stop_watch: asyncio.Task[None], writer: StreamWriter
) -> bool:
    """Wait for the model's answer or a stop; True when the step was stopped."""
    try:
        await asyncio.wait({model_task, stop_watch}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        if _worker_shutting_down():
            # Our worker's drain grace ran out: this is no stop. Fail retryably so
            # another worker runs the step again (its attempt replaces this partial one).
            model_task.cancel()
            raise ApplicationError(
                "the worker shut down mid-step; another worker retries it",
                type="WorkerShutdown",
            ) from None
        # Temporal cancelled the step (a stop the Redis flag did not deliver): hand back
        # the partial answer, which the workflow waits for, instead of nothing.
        stopped = True
    else:
        stopped = False
    if not model_task.done():
        model_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await model_task
        if writer.fenced:
            raise ApplicationError(
                "a newer attempt of this step owns the stream", type="StepSuperseded"
            )
        return True
    model_task.result()  # re-raise the model's error
    return stopped


def _step_failure(exc: Exception, agent: Agent) -> Exception:
    """What the workflow sees of a failed step, counted in the step metrics."""
    if isinstance(exc, ModelRequestError):
        metrics.llm_step(agent.name, "error", "ModelRequestError")
        return ApplicationError(str(exc), type="ModelRequestError", non_retryable=True)
    if isinstance(exc, _Retryable):
        metrics.llm_step(agent.name, "error", "ModelUnavailable")
        delay = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else None
        return ApplicationError(exc.message, type="ModelUnavailable", next_retry_delay=delay)
    kind = exc.type if isinstance(exc, ApplicationError) else None
    metrics.llm_step(agent.name, "error", kind or type(exc).__name__)
    return exc


async def _close(writer: StreamWriter, beat: asyncio.Task[None], *, failed: bool) -> None:
    """Write the step's last entries before it returns, heartbeating while Redis is away.

    The step's result must not reach the workflow before its output reaches the stream: the
    turn's end record would follow a gap. A step that already failed keeps its own error.
    """
    closing = asyncio.ensure_future(writer.close())
    try:
        await asyncio.shield(closing)
    except RedisUnavailableError:
        if not failed:
            raise
        log.warning("chat %s: a failed step's last entries were not written", writer.chat_id)
    except asyncio.CancelledError:
        # Stopped while Redis was away: the close goes on (the partial answer is still
        # written when Redis returns, or its failure is logged); the cancellation wins.
        closing.add_done_callback(_log_unwritten)
        raise
    finally:
        beat.cancel()


def _log_unwritten(closing: asyncio.Future[None]) -> None:
    if not closing.cancelled() and closing.exception() is not None:
        log.warning("a stopped step's last entries were not written: %s", closing.exception())


def _worker_shutting_down() -> bool:
    details = activity.cancellation_details()
    return details is not None and details.worker_shutdown


async def _heartbeat() -> None:
    # The model may be silent for a long time before its first token; heartbeats must not be.
    while True:
        activity.heartbeat()
        await asyncio.sleep(HEARTBEAT_EVERY)


async def _watch_stop(writer: StreamWriter) -> None:
    await writer.interrupted.wait()


def _record_call(
    call: ToolCall,
    emit: Callable[[dict[str, Any]], None],
    agent: Agent,
    allowed: frozenset[str] | None = None,
) -> ToolCallRecord:
    """Announce a complete tool call on the stream (which adds its part to the message).

    Client tools are validated here (server tools are, in their own activity), so the model
    gets a correctable error rather than the caller getting bad arguments. `allowed`: the
    only tools a named thread's model may call.
    """
    error: str | None = None
    arguments: Any = None
    try:
        arguments = orjson.loads(call.arguments) if call.arguments.strip() else {}
    except orjson.JSONDecodeError as exc:
        error = f"arguments for {call.name} are not valid JSON: {exc}"
    if allowed is not None and call.name not in allowed:
        available = ", ".join(sorted(allowed)) or "none"
        error = f"unknown tool {call.name!r}; available tools: {available}"
    tool = agent.tool(call.name)
    if error is None and tool is not None and tool.is_client:
        try:
            tool.validate(arguments)
        except ValueError as exc:
            error = str(exc)
    if error is not None:
        emit(
            {
                "type": "tool-input-error",
                "toolCallId": call.id,
                "toolName": call.name,
                "input": call.arguments,
                "errorText": error,
            }
        )
        return ToolCallRecord(id=call.id, name=call.name, input=call.arguments, input_error=error)
    emit(
        {
            "type": "tool-input-available",
            "toolCallId": call.id,
            "toolName": call.name,
            "input": arguments,
        }
    )
    return ToolCallRecord(id=call.id, name=call.name, input=arguments)
