"""`agentchat send` and `agentchat chat`: talk to an agent from a shell."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
from typing import Any

import click

from agentchat.cli._common import connection_options, exit_now, run, settings_from
from agentchat.client import AgentChat
from agentchat.settings import Settings

__all__ = ["chat", "print_stream", "send"]


async def print_stream(stream: Any) -> None:
    """Print a turn's chunks as they arrive: text, tool calls and sub-agent progress."""
    printed: dict[str, int] = {}  # sub-agent progress already shown, per tool call
    async for chunk in stream:
        kind = chunk.type
        if kind == "text-delta":
            click.echo(chunk.delta, nl=False)
        elif kind == "tool-input-available":
            args = ", ".join(f"{k}={v!r}" for k, v in (chunk.input or {}).items())
            click.echo(f"\n[tool {chunk.tool_name}({args})]", nl=False)
        elif kind == "tool-output-available" and chunk.preliminary:
            text = "".join(p.get("text", "") for p in (chunk.output or {}).get("parts", []))
            done = printed.get(chunk.tool_call_id)
            if done is None:
                click.echo("\n  | ", nl=False)
                done = 0
            click.echo(text[done:].replace("\n", "\n  | "), nl=False)
            printed[chunk.tool_call_id] = len(text)
        elif kind == "tool-output-available":
            output = chunk.output if isinstance(chunk.output, str) else json.dumps(chunk.output)
            shown = output if len(output) <= 200 else output[:200] + "..."
            click.echo(f"\n[-> {shown}]\n", nl=False)
        elif kind == "tool-output-error":
            click.echo(f"\n[tool error: {chunk.error_text}]\n", nl=False)
        elif kind == "tool-approval-request":
            click.echo(f"\n[approval needed: {chunk.approval_id}]", nl=False)
        elif kind == "data-steer":
            click.echo(f"\n[steer: {chunk.data.get('text', '')}]\n", nl=False)
        elif kind == "reset-step":
            click.echo("\n[retrying step]\n", nl=False)
        elif kind == "abort":
            click.echo(" [stopped]", nl=False)
        elif kind == "error":
            click.echo(f"\n[error: {chunk.error_text}]", nl=False)
    click.echo("")


@click.command()
@click.argument("agent")
@click.argument("message")
@click.option("--id", "chat_id", default=None, help="Chat id (default: a new chat).")
@connection_options
def send(agent: str, message: str, chat_id: str | None, **conn: Any) -> None:
    """Send MESSAGE to AGENT and stream the answer to stdout."""

    async def talk() -> None:
        chat = AgentChat(agent=agent, id=chat_id, settings=settings_from(**conn))
        click.echo(f"chat {chat.id}", err=True)
        await print_stream(await chat.send_message(message))

    exit_now(run(talk()))


@click.command()
@click.argument("agent")
@click.option("--id", "chat_id", default=None, help="Chat id (default: a new chat).")
@connection_options
def chat(agent: str, chat_id: str | None, **conn: Any) -> None:
    """Talk to AGENT interactively.

    While an answer streams, a line you type steers it; Ctrl-C stops the answer (not the
    program). Between answers: /history, /quit (or Ctrl-D, Ctrl-C).
    """
    exit_now(run(_interactive(agent, chat_id, settings_from(**conn))))


async def _interactive(agent: str, chat_id: str | None, settings: Settings) -> None:
    session = AgentChat(agent=agent, id=chat_id, settings=settings)
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    interrupts: asyncio.Queue[None] = asyncio.Queue()
    loop.add_signal_handler(signal.SIGINT, interrupts.put_nowait, None)
    # At a terminal, a line typed while an answer streams steers it; piped input is a script
    # of messages, each sent once the previous answer is done.
    steering = sys.stdin.isatty()

    def read_stdin() -> None:
        while True:
            line = sys.stdin.readline()
            loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\n") if line else None)
            if not line:
                return

    # A daemon thread, not the loop's executor: asyncio.run() would wait for a blocked read.
    threading.Thread(target=read_stdin, name="stdin", daemon=True).start()
    click.echo(
        f"chat {session.id} with {agent}; type a message, /quit to leave"
        + ("; while it answers: a line steers, Ctrl-C or /stop stops" if steering else "")
    )
    quitting = False
    while not quitting:
        if steering:
            click.echo("> ", nl=False)
        line = await _next(lines, interrupts)
        if line is None or line.strip() == "/quit":
            return
        if not line.strip():
            continue
        if line.strip() == "/history":
            for message in await session.history():
                click.echo(f"{message.role}: {message.text()}")
            continue
        printing = asyncio.create_task(print_stream(await session.send_message(line)))
        quitting = await _follow(session, printing, lines, interrupts, steering)


async def _follow(
    session: AgentChat,
    printing: asyncio.Task[None],
    lines: asyncio.Queue[str | None],
    interrupts: asyncio.Queue[None],
    steering: bool,
) -> bool:
    """Until the answer `printing` prints is done: a line typed meanwhile steers it (when
    `steering`), Ctrl-C or /stop stops it. Returns whether /quit or end of input came."""
    quitting = False
    while not printing.done():
        waiters: set[asyncio.Task[Any]] = {printing, asyncio.create_task(interrupts.get())}
        getter = asyncio.create_task(lines.get()) if steering and not quitting else None
        if getter is not None:
            waiters.add(getter)
        done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for task in pending - {printing}:
            task.cancel()
        if getter is not None and getter in done:
            typed = getter.result()
            if typed is None or typed.strip() in ("/quit", "/stop"):
                quitting = quitting or typed is None or typed.strip() == "/quit"
                await session.stop()
            elif typed.strip():
                await session.steer(typed)
        elif printing not in done:
            await session.stop()  # Ctrl-C: stop the answer, keep the program
    printing.result()
    return quitting


async def _next(lines: asyncio.Queue[str | None], interrupts: asyncio.Queue[None]) -> str | None:
    """The next input line, or None on end of input or Ctrl-C."""
    getter = asyncio.create_task(lines.get())
    interrupted = asyncio.create_task(interrupts.get())
    done, _ = await asyncio.wait({getter, interrupted}, return_when=asyncio.FIRST_COMPLETED)
    if interrupted in done:
        getter.cancel()
        click.echo("")
        return None
    interrupted.cancel()
    return getter.result()
