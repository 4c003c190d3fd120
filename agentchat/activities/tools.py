"""The tool call activity: validate the model's arguments, run the tool, publish its result.

A validation error or an exception becomes a tool error the model sees, not a failed turn;
only a dead worker makes Temporal retry the call, with the same idempotency key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agentchat import metrics
from agentchat.agent import Agent
from agentchat.errors import RedisUnavailableError
from agentchat.protocol.chunks import resource_chunk
from agentchat.protocol.contracts import Display, StreamMark, ToolCallInput, ToolOutcome
from agentchat.protocol.envelope import tool_producer
from agentchat.protocol.tool_display import client_tool_chunk
from agentchat.stream._store import StreamStore, StreamWriter
from agentchat.tools import Tool, ToolContext

__all__ = ["run_tool_call"]

log = logging.getLogger("agentchat.tools")

STOPPED_PATIENCE = 5.0
"""Seconds a stopped call's writer waits for Redis to take its last records."""


async def run_tool_call(
    store: StreamStore, agent: Agent, req: ToolCallInput, settings: Any
) -> ToolOutcome:
    call = req.call
    writer = StreamWriter(
        store,
        req.chat_id,
        producer=tool_producer(req.turn, req.step, call.id),
        attempt=activity.info().attempt,
        turn=req.turn,
    )
    tool = agent.tool(call.name)
    error: str | None = call.input_error
    args: Any = None
    if tool is None:
        names = ", ".join(t.name for t in agent.tools) or "none"
        error = f"unknown tool {call.name!r}; available tools: {names}"
    elif error is None:
        try:
            args = tool.validate(call.input)
        except ValueError as exc:
            error = str(exc)
    if tool is None or error is not None:
        # A name the model made up is no label value: it would grow the series without bound.
        label = "unknown" if tool is None else tool.name
        kind = "unknown_tool" if tool is None else "invalid_input"
        metrics.tool_call(agent.name, label, "error", error_kind=kind)
        display = "stream" if tool is None else tool.display
        return await _finish(
            writer, call.id, ToolOutcome(error=error), silent=req.silent, display=display
        )

    ctx = ToolContext(
        chat_id=req.chat_id,
        agent=req.agent,
        client_data=req.client_data,
        tool_call_id=call.id,
        idempotency_key=f"{req.chat_id}:{req.turn}:{req.step}:{call.id}",
        turn=req.turn,
        step=req.step,
        attempt=activity.info().attempt,
        settings=settings,
        inputs=dict(req.inputs),
        resources=dict(req.resources),
        resource_names=[r.name for r in agent.resources],
    )
    ctx._on_resource = lambda name, value: writer.chunk(resource_chunk(name, value))
    if tool.display == "stream" and not req.silent:  # others show clients no progress
        ctx._progress = lambda output: writer.chunk(
            {
                "type": "tool-output-available",
                "toolCallId": call.id,
                "output": output,
                "preliminary": True,
            }
        )
    writer.start()
    # The heartbeat goes on until the writer is closed: closing waits for Redis when it is
    # down, and a call that stopped heartbeating would be retried elsewhere meanwhile.
    beat = asyncio.create_task(_heartbeat())
    try:
        outcome = await _invoke(tool, args, ctx, writer, agent)
        if ctx.owned_chats:
            outcome.subchat = ctx.owned_chats[0]
        outcome.resources = dict(ctx.changed_resources)
        return await _finish(writer, call.id, outcome, silent=req.silent, display=tool.display)
    finally:
        beat.cancel()


async def _invoke(
    tool: Tool, args: Any, ctx: ToolContext, writer: StreamWriter, agent: Agent
) -> ToolOutcome:
    watch = asyncio.create_task(_relay_stop(writer, ctx))
    began = time.monotonic()
    try:
        output = await tool.invoke(args, ctx)
        metrics.tool_call(agent.name, tool.name, "ok", seconds=time.monotonic() - began)
        return ToolOutcome(output=output)
    except asyncio.CancelledError:
        metrics.tool_call(agent.name, tool.name, "cancelled", seconds=time.monotonic() - began)
        # A stopped call's result is not awaited: its unwritten progress is no reason to fail
        # (or to keep the worker's drain waiting long).
        with contextlib.suppress(RedisUnavailableError):
            await asyncio.shield(writer.close(patience=STOPPED_PATIENCE))
        details = activity.cancellation_details()
        if details is not None and details.worker_shutdown:
            # The drain grace ran out: fail retryably so another worker runs the call again
            # (a cancellation would read as the turn being stopped).
            raise ApplicationError(
                "the worker shut down mid-call; another worker retries it", type="WorkerShutdown"
            ) from None
        raise
    except Exception as exc:  # the model sees it and may correct itself
        outcome = ToolOutcome(error=f"{type(exc).__name__}: {exc}")
        seconds = time.monotonic() - began
        metrics.tool_call(agent.name, tool.name, "error", error_kind="exception", seconds=seconds)
        # The message is the tool's own text and may carry what logs must not: keep it at
        # DEBUG (the model and the stream have it anyway).
        log.info("tool %s failed: %s", tool.name, type(exc).__name__)
        log.debug("tool %s failed: %s", tool.name, outcome.error)
        return outcome
    finally:
        watch.cancel()


async def _finish(
    writer: StreamWriter,
    call_id: str,
    outcome: ToolOutcome,
    *,
    silent: bool = False,
    display: Display = "stream",
) -> ToolOutcome:
    """Publish the call's outcome as its tool's display allows (the workflow gets it whole)."""
    if not silent:  # a handler's call: its output goes into a variable, not to the stream
        chunk: dict[str, Any] = (
            {"type": "tool-output-error", "toolCallId": call_id, "errorText": outcome.error}
            if outcome.error is not None
            else {"type": "tool-output-available", "toolCallId": call_id, "output": outcome.output}
        )
        shown = client_tool_chunk(chunk, display)
        if shown is not None:
            writer.chunk(shown)
    await writer.close()
    outcome.stream = StreamMark(seq=writer.seq, attempt=writer.attempt)
    return outcome


async def _heartbeat() -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(1.0)


async def _relay_stop(writer: StreamWriter, ctx: ToolContext) -> None:
    """Tell the tool when the turn was stopped (the writer polls the stop flag).

    Being fenced by a newer attempt of this call is not a stop: that attempt carries on.
    """
    with contextlib.suppress(asyncio.CancelledError):
        await writer.interrupted.wait()
        if writer.stop_requested:
            ctx.stopped.set()
