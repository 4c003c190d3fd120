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
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agentchat import metrics
from agentchat.activities.observe import TurnTracker
from agentchat.activities.prefetch import StepPrefetch, model_request
from agentchat.activities.transcripts import TranscriptCache
from agentchat.agent import Agent
from agentchat.models import ModelRequestError, StepFinish, TextDelta
from agentchat.models.base import (
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    _Retryable,
)
from agentchat.protocol.contracts import StepInput, StepResult, ToolCallRecord
from agentchat.protocol.messages import MessageBuilder
from agentchat.stream._store import StreamStore, StreamWriter

__all__ = ["run_llm_step"]

HEARTBEAT_EVERY = 1.0

log = logging.getLogger("agentchat.activities")


async def run_llm_step(
    store: StreamStore,
    agent: Agent,
    step: StepInput,
    transcripts: TranscriptCache,
    turns: TurnTracker | None = None,
    prefetch: StepPrefetch | None = None,
) -> StepResult:
    began = time.monotonic()  # time to first token counts from here (see agentchat.metrics)
    info = activity.info()
    prefetched = prefetch.claim(step, info.attempt) if prefetch is not None else None
    # Before writing anything: a miss is resent.
    transcript = prefetched.transcript if prefetched is not None else transcripts.resolve(step)
    writer = StreamWriter(
        store,
        step.chat_id,
        producer=f"t{step.turn}.s{step.step}.llm",
        attempt=step.attempt_base + info.attempt,
        turn=step.turn,
    )
    # The step's parts are the fold of exactly the chunks it writes (`emit`), so the
    # transcript and every reader of the stream agree on what this step said.
    recorder = MessageBuilder(step.message_id)

    def emit(chunk: dict[str, Any]) -> None:
        writer.chunk(chunk)
        recorder.apply_wire(chunk)

    if step.start is not None:  # this step opens the turn: its records go first
        start = step.start
        if turns is not None:
            turns.started(step.chat_id, step.turn, agent.name, info.attempt)
        writer.open_turn(start.message_id, start.user_message_id, start.trigger)
    for steer in step.inject:
        text = "".join(str(p.get("text", "")) for p in steer.parts if p.get("type") == "text")
        part = {"type": "data-steer", "id": steer.id, "data": {"text": text, "messageId": steer.id}}
        writer.control("input", kind="steer", messageId=steer.id, state="injected")
        emit(part)
    emit({"type": "start-step"})
    text_id: str | None = None
    finish = StepFinish("stop")
    stopped = False

    if prefetched is not None:  # begun while Temporal recorded this step (see .prefetch)
        events = prefetched.events()
    else:
        events = agent.resolved_model().stream(model_request(agent, step, transcript))
    calls: list[ToolCallRecord] = []
    started_calls: set[str] = set()

    first_token = False

    def got_first_token() -> None:
        nonlocal first_token
        first_token = True
        metrics.first_token(agent.name, time.monotonic() - began)

    def close_text() -> None:
        nonlocal text_id
        if text_id is not None:
            emit({"type": "text-end", "id": text_id})
            text_id = None

    async def consume() -> None:
        nonlocal finish, text_id
        async for event in events:
            if isinstance(event, TextDelta):
                if not event.text:
                    continue
                if not first_token:
                    got_first_token()
                if text_id is None:
                    text_id = f"{step.message_id}-s{step.step}-{len(recorder)}"
                    emit({"type": "text-start", "id": text_id})
                emit({"type": "text-delta", "id": text_id, "delta": event.text})
            elif isinstance(event, ToolCallStart):
                if not first_token:
                    got_first_token()
                close_text()
                started_calls.add(event.id)
                emit({"type": "tool-input-start", "toolCallId": event.id, "toolName": event.name})
            elif isinstance(event, ToolCallDelta):
                emit(
                    {
                        "type": "tool-input-delta",
                        "toolCallId": event.id,
                        "inputTextDelta": event.text,
                    }
                )
            elif isinstance(event, ToolCall):
                if not first_token:
                    got_first_token()
                close_text()
                if event.id not in started_calls:
                    emit(
                        {"type": "tool-input-start", "toolCallId": event.id, "toolName": event.name}
                    )
                calls.append(_record_call(event, emit, agent))
            elif isinstance(event, StepFinish):
                finish = event

    writer.start()
    model_task = asyncio.create_task(consume(), name=f"model {step.chat_id} t{step.turn}")
    beat = asyncio.create_task(_heartbeat(), name="heartbeat")
    stop_watch = asyncio.create_task(_watch_stop(writer), name="stop watch")
    try:
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
        if not model_task.done():
            model_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await model_task
            if writer.fenced:
                raise ApplicationError(
                    "a newer attempt of this step owns the stream", type="StepSuperseded"
                )
            stopped = True
        else:
            model_task.result()  # re-raise the model's error
    except ModelRequestError as exc:
        metrics.llm_step(agent.name, "error", "ModelRequestError")
        raise ApplicationError(str(exc), type="ModelRequestError", non_retryable=True) from None
    except _Retryable as exc:
        metrics.llm_step(agent.name, "error", "ModelUnavailable")
        delay = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else None
        raise ApplicationError(
            exc.message, type="ModelUnavailable", next_retry_delay=delay
        ) from None
    except Exception as exc:
        kind = exc.type if isinstance(exc, ApplicationError) else None
        metrics.llm_step(agent.name, "error", kind or type(exc).__name__)
        raise
    finally:
        for task in (beat, stop_watch, model_task):
            task.cancel()
        close_text()
        if (
            not stopped
            and model_task.done()
            and not model_task.cancelled()
            and model_task.exception() is None
        ):
            writer.chunk({"type": "finish-step"})
        await asyncio.shield(writer.close())
    metrics.llm_step(agent.name, "stopped" if stopped else "ok")
    log.debug("step %d %s: %s", step.step, "stopped" if stopped else "done", finish.finish_reason)
    return StepResult(
        parts=recorder.take_parts(),
        tool_calls=calls,
        finish_reason=finish.finish_reason,
        stopped=stopped,
        input_tokens=finish.input_tokens,
        output_tokens=finish.output_tokens,
    )


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
    call: ToolCall, emit: Callable[[dict[str, Any]], None], agent: Agent
) -> ToolCallRecord:
    """Announce a complete tool call on the stream (which adds its part to the message).

    Client tools are validated here (server tools are, in their own activity), so the model
    gets a correctable error rather than the caller getting bad arguments.
    """
    error: str | None = None
    arguments: Any = None
    try:
        arguments = orjson.loads(call.arguments) if call.arguments.strip() else {}
    except orjson.JSONDecodeError as exc:
        error = f"arguments for {call.name} are not valid JSON: {exc}"
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
