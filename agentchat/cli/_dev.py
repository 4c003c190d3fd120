"""`agentchat dev`: the whole stack on this machine, for trying agents out.

A Temporal dev server and Redis (child processes, state under `--data-dir`), a worker serving
the demo agent and yours, and the gateway with its chat page. Ctrl-C stops all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agentchat.agent import Agent, load_agents
from agentchat.cli._common import exit_now, run
from agentchat.cli._serve import gateway_server, protocol_agents, protocol_options, serve_worker
from agentchat.cli._talk import print_stream
from agentchat.client import AgentChat
from agentchat.errors import AgentChatError, ConfigurationError
from agentchat.settings import Settings, redact_url
from agentchat.testing.local import LocalStack

if TYPE_CHECKING:
    from agentchat.gateway.serve import GatewayServer

__all__ = ["dev"]


@click.command()
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
@protocol_options(
    "the demo's (offline unless OPENAI_API_KEY or OPENAI_BASE_URL is set) when not given;"
    " 'file' for the protocol's own agent.model."
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
    protocol_folders: tuple[Path, ...],
    protocol_model: str | None,
    gateway_port: int,
    demo_message: str,
) -> None:
    """Run everything locally: Temporal dev server, Redis, and a worker. Ctrl-C stops it all.

    `--protocol examples/support` also serves the support agent of an Octavus protocol folder,
    offline by default (see docs/agent-protocol.md).
    """
    try:
        protocols = protocol_agents(protocol_folders, _protocol_model(protocol_model))
        agents = load_agents(["agentchat.demo:agents", *agent_refs, *protocols])
    except AgentChatError as exc:
        raise click.UsageError(str(exc)) from None
    stack = LocalStack(data_dir=data_dir, temporal_port=temporal_port, redis_port=redis_port)
    settings = Settings(
        temporal_address=stack.temporal_address,
        redis_url=stack.redis_url,
        database_url=stack.database_url,
        blob_url=stack.blob_url,
    )
    # Made before the stack starts, so that a usage error here leaves nothing running.
    web = gateway_server(settings, "127.0.0.1", gateway_port, "demo") if gateway_port else None
    click.echo(
        f"starting Redis on :{redis_port} and Temporal on :{temporal_port}"
        f" (state in {data_dir}/) ..."
    )
    try:
        stack.start()
    except AgentChatError as exc:
        click.echo(f"error: {exc} (see {data_dir}/*.log; is a port in use?)", err=True)
        sys.exit(1)
    code = 1
    try:
        os.environ["AGENTCHAT_TEMPORAL_ADDRESS"] = settings.temporal_address
        os.environ["AGENTCHAT_REDIS_URL"] = settings.redis_url
        os.environ["AGENTCHAT_DATABASE_URL"] = stack.database_url
        os.environ["AGENTCHAT_BLOB_URL"] = stack.blob_url
        banner = _banner(settings, agents, gateway_port)
        code = run(_serve_stack(agents, settings, banner, web, demo_message))
    except BrokenPipeError:
        pass  # stdout's reader left (`agentchat dev | head`): exit 1, as writers to it do
    finally:
        # The servers run in sessions of their own, out of reach of the Ctrl-C that ends this
        # process: stop them whatever happened, even when nobody reads stdout any more (as in
        # `agentchat dev | tee log`, whose tee that Ctrl-C ended too), and let no further
        # Ctrl-C cut that short (it takes seconds at most: stop_process kills after 10 s).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            with contextlib.suppress(BrokenPipeError):
                click.echo("stopping ...")
        finally:
            stack.stop()
    exit_now(code)


def _protocol_model(option: str | None) -> str | None:
    """The model `--protocol` agents run on: the option ('file': the protocol's), else the
    demo's (offline unless an OpenAI provider is configured)."""
    if option == "file":
        return None
    if option:
        return option
    from agentchat.demo import demo_model

    model = demo_model()
    return model if isinstance(model, str) else str(getattr(model, "name", "offline"))


def _banner(settings: Settings, agents: list[Agent], gateway_port: int) -> str:
    return "\n".join(
        [
            "agentchat dev is ready",
            f"  Temporal  {settings.temporal_address} (namespace default)",
            f"  Redis     {redact_url(settings.redis_url)}",
            f"  chats     {settings.database_url}",
            f"  files     {settings.blob_url}",
            f"  worker    agents {', '.join(a.name for a in agents)}"
            f" on queue {settings.task_queue!r}",
            "in another shell:",
            f"  export AGENTCHAT_TEMPORAL_ADDRESS={settings.temporal_address}"
            f" AGENTCHAT_REDIS_URL={settings.redis_url}"
            f" AGENTCHAT_DATABASE_URL={settings.database_url}"
            f" AGENTCHAT_BLOB_URL={settings.blob_url}",
            "  agentchat chat demo",
            *(
                [f"chat page: http://127.0.0.1:{gateway_port}/  (API docs: /docs)"]
                if gateway_port
                else []
            ),
            "Ctrl-C stops everything; run again to resume the same chats.",
        ]
    )


async def _serve_stack(
    agents: list[Agent],
    settings: Settings,
    banner: str,
    web: GatewayServer | None,
    demo_message: str,
) -> None:
    """Serve the gateway (if any) and the worker, send the demo message, and return once
    Ctrl-C has stopped them."""
    if web is not None:
        try:
            await web.start()  # the worker owns Ctrl-C
        except ConfigurationError as exc:
            raise click.ClickException(str(exc)) from None
    ready = asyncio.Event()
    serving = asyncio.create_task(serve_worker(agents, settings, banner, ready.set))
    try:
        if demo_message:
            await _demo_turn(settings, demo_message, serving, ready)
        await serving
    finally:
        if web is not None:
            await web.stop()  # ends open SSE streams too


async def _demo_turn(
    settings: Settings, message: str, serving: asyncio.Task[None], ready: asyncio.Event
) -> None:
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait({serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if not ready.is_set():
        waiting.cancel()
        return
    chat = AgentChat(agent="demo", id="demo", settings=settings)
    click.echo(f"\ndemo chat {chat.id!r}> {message}")
    try:
        await print_stream(await chat.send_message(message))
    except AgentChatError as exc:
        click.echo(f"demo message failed: {exc}", err=True)
