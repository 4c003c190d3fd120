"""Sub-agent delegation: a tool that hands a task to another agent and streams its progress.

The parent's stream shows the sub-agent's answer as it grows (`tool-output-available` with
`preliminary: true`, one `UIMessage` snapshot at a time), and the parent model gets the final
text. Sub-chat ids and message ids are derived from the parent's chat, turn and tool call, so
a tool activity retried after a crash re-attaches to the same sub-chat and its in-flight turn
instead of sending the message again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from datetime import timedelta

from temporalio import activity

from agentchat.protocol.contracts import Display
from agentchat.protocol.identifiers import MAX_CHAT_ID_LENGTH, safe_id_part
from agentchat.tools import Tool, ToolContext, tool

__all__ = ["agent_tool"]


def _chat_id(*parts: str) -> str:
    raw = ".".join(safe_id_part(p) for p in parts)
    if len(raw) <= MAX_CHAT_ID_LENGTH:
        return raw
    return raw[:150] + "." + hashlib.sha256(raw.encode()).hexdigest()[:40]


def agent_tool(
    agent: str,
    *,
    name: str | None = None,
    description: str | None = None,
    persistent: bool = False,
    timeout: timedelta = timedelta(minutes=30),
    display: Display = "stream",
) -> Tool:
    """A tool that delegates a task to `agent` and returns its answer.

    Args:
        agent: The sub-agent's name (any worker on the task queue may serve it).
        name: The tool's name (default: `ask_<agent>`).
        description: What the parent model reads (default: says it delegates to `agent`).
        persistent: Reuse one sub-chat across the parent's turns (the sub-agent remembers
            earlier tasks), closed when the parent chat closes. By default every call gets
            a fresh sub-chat that is closed when it answers.
        timeout: Longest a delegation may take.
        display: What the parent's clients see of a delegation (see `agentchat.tools.Tool`):
            "stream" its growing answer, "description" or "name" only that it ran, "hidden"
            nothing.
    """
    tool_name = name or f"ask_{agent}".replace("-", "_")

    async def delegate(task: str, ctx: ToolContext) -> str:
        from agentchat.client import AgentChat

        sub_id = (
            _chat_id(ctx.chat_id, tool_name)
            if persistent
            else _chat_id(ctx.chat_id, tool_name, f"t{ctx.turn}s{ctx.step}", ctx.tool_call_id)
        )
        chat = AgentChat(
            agent=agent,
            id=sub_id,
            client_data=ctx.client_data,
            settings=ctx.settings,
            stream_timeout=timeout.total_seconds(),
            parent=ctx.chat_id,  # deleted with this chat; it takes this chat's owner
        )
        if persistent:
            ctx.own_chat(sub_id)
        # The same message id on every attempt: a retry finds the turn already running.
        stream = await chat.send_message(task, message_id=_chat_id(ctx.idempotency_key))

        async def relay() -> None:
            async for snapshot in stream.messages():
                ctx.progress(snapshot.model_dump(exclude_none=True))

        relaying = asyncio.create_task(relay())
        stopped = asyncio.create_task(ctx.stopped.wait())
        retried_elsewhere = False
        try:
            await asyncio.wait({relaying, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not relaying.done():
                await chat.stop()  # the parent's turn was stopped: stop the sub-agent's too
            await relaying
            result = await stream.result()
        except asyncio.CancelledError:
            # A worker shutting down hands the call to another worker, which re-attaches to
            # this sub-turn: leave it running. Any other cancellation stops it.
            retried_elsewhere = activity.is_worker_shutdown()
            if not retried_elsewhere:
                with contextlib.suppress(Exception):
                    await asyncio.shield(chat.stop())
            raise
        finally:
            relaying.cancel()
            stopped.cancel()
            if not persistent and not retried_elsewhere:
                with contextlib.suppress(Exception):
                    await asyncio.shield(chat.close())
        if result.status == "stopped":
            return result.text + " [stopped]"
        return result.text

    delegate.__doc__ = description or (
        f"Delegate a task to the {agent} agent and get its answer.\n\n"
        f"Args:\n    task: What the {agent} agent should do, with all the context it needs."
    )
    return tool(
        name=tool_name,
        description=description,
        timeout=timeout,
        heartbeat=timedelta(seconds=5),
        display=display,
    )(delegate)
