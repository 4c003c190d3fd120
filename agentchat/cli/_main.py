"""The `agentchat` command: `dev`, `worker`, `gateway`, `check`, `send`, `chat`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

try:
    import click
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit("the agentchat command needs click: pip install 'agentchat[cli]'")

from agentchat.agent import Agent, load_agents
from agentchat.errors import AgentChatError
from agentchat.settings import Settings, redact_url

__all__ = ["main"]

log = logging.getLogger("agentchat.cli")

SERVERS = ("worker", "gateway")
"""Commands that log at INFO unless told otherwise."""

_connection_options = [
    click.option(
        "--temporal-address",
        envvar="AGENTCHAT_TEMPORAL_ADDRESS",
        default=None,
        help="Temporal frontend host:port [env AGENTCHAT_TEMPORAL_ADDRESS, localhost:7233]",
    ),
    click.option(
        "--namespace",
        envvar="AGENTCHAT_TEMPORAL_NAMESPACE",
        default=None,
        help="Temporal namespace [env AGENTCHAT_TEMPORAL_NAMESPACE, default]",
    ),
    click.option(
        "--task-queue",
        envvar="AGENTCHAT_TASK_QUEUE",
        default=None,
        help="Task queue [env AGENTCHAT_TASK_QUEUE, agentchat]",
    ),
    click.option(
        "--redis-url",
        envvar="AGENTCHAT_REDIS_URL",
        default=None,
        help="Redis URL [env AGENTCHAT_REDIS_URL, redis://localhost:6379/0]",
    ),
]


def connection_options(func: Any) -> Any:
    for option in reversed(_connection_options):
        func = option(func)
    return func


def _settings(
    temporal_address: str | None,
    namespace: str | None,
    task_queue: str | None,
    redis_url: str | None,
) -> Settings:
    return Settings().with_overrides(
        temporal_address=temporal_address,
        temporal_namespace=namespace,
        task_queue=task_queue,
        redis_url=redis_url,
    )


def _run(coro: Any) -> int:
    """Run a command's coroutine; returns the exit code (1 with a clear message on errors)."""
    try:
        asyncio.run(coro)
    except AgentChatError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    return 0


def _exit(code: int) -> NoReturn:
    # Leave without interpreter finalization: the Temporal client's native threads can call
    # back into Python while it is being torn down and abort the process (seen in CI as
    # "PyGILState_Release ... finalizing"). Everything is flushed and closed by now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
@click.version_option(package_name="agentchat")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Durable AI chat agents on Temporal and Redis."""
    from agentchat.logs import configure_logging

    settings = Settings()
    if verbose:
        settings = dataclasses.replace(settings, log_level="INFO")
    elif "AGENTCHAT_LOG_LEVEL" not in os.environ and ctx.invoked_subcommand not in SERVERS:
        # Commands talk to people on stdout; only servers log their INFO lines by default.
        settings = dataclasses.replace(settings, log_level="WARNING")
    from agentchat.tracing import configure_tracing

    try:
        configure_logging(settings)
        configure_tracing()
    except AgentChatError as exc:
        raise click.UsageError(str(exc)) from None


# -- worker ---------------------------------------------------------------------------------


async def _serve(
    agents: list[Agent],
    settings: Settings,
    ready_message: str | None = None,
    on_ready: asyncio.Event | None = None,
) -> None:
    from agentchat.worker import run_worker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    task = asyncio.create_task(run_worker(agents, settings, stop=stop, ready=ready))

    def on_signal() -> None:
        # The first signal drains; a second one (an impatient Ctrl-C) stops at once.
        if stop.is_set():
            task.cancel()
        else:
            stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    done, _ = await asyncio.wait(
        {task, asyncio.create_task(ready.wait())}, return_when=asyncio.FIRST_COMPLETED
    )
    if task in done:
        task.result()
    if ready_message:
        click.echo(ready_message)
    if on_ready is not None:
        on_ready.set()
    try:
        await task
    except asyncio.CancelledError:
        if not stop.is_set():
            raise
        click.echo("stopped without draining: running steps will be retried elsewhere", err=True)


@main.command()
@click.option(
    "--agents",
    "agent_refs",
    multiple=True,
    required=True,
    metavar="MODULE:ATTR",
    help="Agents to serve (an Agent or a list of them); repeatable.",
)
@click.option("--demo/--no-demo", default=False, help="Also serve the built-in demo agent.")
@connection_options
def worker(agent_refs: tuple[str, ...], demo: bool, **conn: Any) -> None:
    """Serve agents: run the chat workflow and its activities."""
    settings = _settings(**conn)
    refs: list[str | Agent] = list(agent_refs)
    if demo:
        refs.append("agentchat.demo:agents")
    try:
        agents = load_agents(refs)
    except AgentChatError as exc:
        raise click.UsageError(str(exc)) from None
    _exit(
        _run(
            _serve(
                agents,
                settings,
                f"worker ready: {', '.join(a.name for a in agents)}"
                f" on {settings.temporal_address} queue {settings.task_queue!r}",
            )
        )
    )


# -- gateway --------------------------------------------------------------------------------


def _gateway_server(settings: Settings, host: str, port: int, default_agent: str | None) -> Any:
    """A uvicorn server for the gateway app (checks that an open gateway stays on loopback)."""
    try:
        import uvicorn
        from sse_starlette.sse import AppStatus

        from agentchat.gateway import GatewayConfig, create_app
    except ImportError:
        raise click.UsageError(
            "the gateway needs its extra: pip install 'agentchat[gateway]'"
        ) from None
    config = GatewayConfig()
    if default_agent:
        config = dataclasses.replace(config, default_agent=default_agent)
    try:
        config.check_host(host)
    except AgentChatError as exc:
        raise click.UsageError(str(exc)) from None
    app = create_app(settings, config)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            log_config=None,  # uvicorn's lines go through our handler (JSON when asked)
            lifespan="off",
            # Open SSE streams end at once on SIGTERM (their clients resume on another
            # replica); this bounds the wait for ordinary requests still in flight.
            timeout_graceful_shutdown=max(1, round(settings.shutdown_grace)),
            proxy_headers=True,
        )
    )
    gateway = app.state.gateway

    def drain(sig: int, frame: Any) -> None:
        # uvicorn's own handler would re-raise the signal once done, so a clean drain would
        # still exit as "killed"; this one drains and exits 0, and a second signal forces.
        if server.should_exit:
            server.force_exit = True
            return
        gateway.draining = True
        AppStatus.should_exit = True  # sse-starlette ends every open stream
        server.should_exit = True
        log.info("gateway draining: ending open streams so their clients move elsewhere")

    server.handle_exit = drain  # type: ignore[method-assign]
    return server


@main.command()
@click.option("--host", envvar="AGENTCHAT_GATEWAY_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="AGENTCHAT_GATEWAY_PORT", type=int, default=8080, show_default=True)
@click.option(
    "--agent",
    "default_agent",
    envvar="AGENTCHAT_GATEWAY_AGENT",
    default=None,
    help="Agent of new chats whose request names none (and of the chat page).",
)
@connection_options
def gateway(host: str, port: int, default_agent: str | None, **conn: Any) -> None:
    """Serve the HTTP gateway: SSE API, AI SDK backend and chat page.

    API keys come from AGENTCHAT_API_KEYS (comma-separated); without them the gateway is
    open and only listens on loopback addresses.
    """
    settings = _settings(**conn)
    server = _gateway_server(settings, host, port, default_agent)
    click.echo(f"gateway on http://{host}:{port}/ (API: /docs)")
    _exit(_run(server.serve()))


# -- check ----------------------------------------------------------------------------------


@main.command()
@click.option(
    "--skip",
    type=click.Choice(["temporal", "redis", "worker", "gateway"]),
    multiple=True,
    help="Parts not to check; repeatable.",
)
@click.option(
    "--url",
    envvar="AGENTCHAT_URL",
    default=None,
    help="Gateway to check via its /readyz [env AGENTCHAT_URL; unchecked when unset]",
)
@connection_options
def check(skip: tuple[str, ...], url: str | None, **conn: Any) -> None:
    """Check that Temporal, Redis, a worker and the gateway are reachable.

    Exits 1 naming each part that is not, so it serves as a deploy step or health check.
    """
    from agentchat.cli._check import run_checks

    settings = _settings(**conn).with_overrides(url=url)
    results = asyncio.run(run_checks(settings, skip=frozenset(skip)))
    for result in results:
        mark = "ok  " if result.ok else "FAIL"
        click.echo(f"{mark} {result.part:<9} {result.detail}", err=not result.ok)
    failed = [result.part for result in results if not result.ok]
    if failed:
        click.echo(f"unreachable: {', '.join(failed)}", err=True)
    _exit(1 if failed else 0)


# -- dev ------------------------------------------------------------------------------------


@main.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=Path(".agentchat"),
    show_default=True,
    help="Where Temporal's SQLite file and Redis' AOF live.",
)
@click.option("--temporal-port", type=int, default=7233, show_default=True)
@click.option("--redis-port", type=int, default=6379, show_default=True)
@click.option(
    "--agents",
    "agent_refs",
    multiple=True,
    metavar="MODULE:ATTR",
    help="Your agents, served beside the built-in demo agent; repeatable.",
)
@click.option(
    "--gateway-port",
    type=int,
    default=8080,
    show_default=True,
    help="Serve the HTTP gateway and chat page here (0: no gateway).",
)
@click.option(
    "--demo-message",
    default="Hello!",
    show_default=True,
    help="Send this to the demo agent once ready ('' to skip).",
)
def dev(
    data_dir: Path,
    temporal_port: int,
    redis_port: int,
    agent_refs: tuple[str, ...],
    gateway_port: int,
    demo_message: str,
) -> None:
    """Run everything locally: Temporal dev server, Redis, and a worker. Ctrl-C stops it all."""
    from agentchat.testing.local import LocalStack

    try:
        agents = load_agents(["agentchat.demo:agents", *agent_refs])
    except AgentChatError as exc:
        raise click.UsageError(str(exc)) from None
    stack = LocalStack(data_dir=data_dir, temporal_port=temporal_port, redis_port=redis_port)
    click.echo(
        f"starting Redis on :{redis_port} and Temporal on :{temporal_port}"
        f" (state in {data_dir}/) ..."
    )
    try:
        stack.start()
    except AgentChatError as exc:
        click.echo(f"error: {exc} (see {data_dir}/*.log; is a port in use?)", err=True)
        sys.exit(1)
    settings = Settings(temporal_address=stack.temporal_address, redis_url=stack.redis_url)
    os.environ["AGENTCHAT_TEMPORAL_ADDRESS"] = settings.temporal_address
    os.environ["AGENTCHAT_REDIS_URL"] = settings.redis_url
    banner = "\n".join(
        [
            "agentchat dev is ready",
            f"  Temporal  {settings.temporal_address} (namespace default)",
            f"  Redis     {redact_url(settings.redis_url)}",
            f"  worker    agents {', '.join(a.name for a in agents)}"
            f" on queue {settings.task_queue!r}",
            "in another shell:",
            f"  export AGENTCHAT_TEMPORAL_ADDRESS={settings.temporal_address}"
            f" AGENTCHAT_REDIS_URL={settings.redis_url}",
            "  agentchat chat demo",
            *(
                [f"chat page: http://127.0.0.1:{gateway_port}/  (API docs: /docs)"]
                if gateway_port
                else []
            ),
            "Ctrl-C stops everything; run again to resume the same chats.",
        ]
    )
    web = _gateway_server(settings, "127.0.0.1", gateway_port, "demo") if gateway_port else None

    async def run() -> None:
        ready = asyncio.Event()
        if web is not None:
            web.capture_signals = contextlib.nullcontext  # the worker owns Ctrl-C
            web_task = asyncio.create_task(web.serve())
            while not web.started and not web_task.done():  # noqa: ASYNC110 - no event to wait on
                await asyncio.sleep(0.02)
            if web_task.done():
                web_task.result()
                raise click.ClickException(f"the gateway could not listen on :{gateway_port}")
        serving = asyncio.create_task(_serve(agents, settings, banner, ready))
        if demo_message:
            await _demo_turn(settings, demo_message, serving, ready)
        try:
            await serving
        finally:
            if web is not None:
                web.handle_exit(signal.SIGTERM, None)  # ends open SSE streams too
                await web_task

    code = 1
    try:
        code = _run(run())
    finally:
        click.echo("stopping ...")
        stack.stop()
    _exit(code)


async def _demo_turn(
    settings: Settings, message: str, serving: asyncio.Task[None], ready: asyncio.Event
) -> None:
    from agentchat.client import AgentChat

    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait({serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if not ready.is_set():
        waiting.cancel()
        return
    chat = AgentChat(agent="demo", id="demo", settings=settings)
    click.echo(f"\ndemo chat {chat.id!r}> {message}")
    try:
        await _print_stream(await chat.send_message(message))
    except AgentChatError as exc:
        click.echo(f"demo message failed: {exc}", err=True)


async def _print_stream(stream: Any) -> None:
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


# -- send / chat ----------------------------------------------------------------------------


@main.command()
@click.argument("agent")
@click.argument("message")
@click.option("--id", "chat_id", default=None, help="Chat id (default: a new chat).")
@connection_options
def send(agent: str, message: str, chat_id: str | None, **conn: Any) -> None:
    """Send MESSAGE to AGENT and stream the answer to stdout."""
    from agentchat.client import AgentChat

    async def run() -> None:
        chat = AgentChat(agent=agent, id=chat_id, settings=_settings(**conn))
        click.echo(f"chat {chat.id}", err=True)
        await _print_stream(await chat.send_message(message))

    _exit(_run(run()))


@main.command()
@click.argument("agent")
@click.option("--id", "chat_id", default=None, help="Chat id (default: a new chat).")
@connection_options
def chat(agent: str, chat_id: str | None, **conn: Any) -> None:
    """Talk to AGENT interactively.

    While an answer streams, a line you type steers it; Ctrl-C stops the answer (not the
    program). Between answers: /history, /quit (or Ctrl-D, Ctrl-C).
    """
    _exit(_run(_interactive(agent, chat_id, _settings(**conn))))


async def _interactive(agent: str, chat_id: str | None, settings: Settings) -> None:
    from agentchat.client import AgentChat

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
        printing = asyncio.create_task(_print_stream(await session.send_message(line)))
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


if __name__ == "__main__":  # pragma: no cover
    main()
