"""`agentchat worker` and `agentchat gateway`: the servers of a deployment.

They parse their options and hand over to the worker's and the gateway's own serving code,
which drains on SIGTERM (see `agentchat.worker._signals` and `agentchat.gateway.serve`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from agentchat.agent import Agent, load_agents
from agentchat.cli._common import connection_options, exit_now, run, settings_from
from agentchat.errors import AgentChatError
from agentchat.settings import Settings
from agentchat.worker._signals import serve_until_signalled

if TYPE_CHECKING:
    from agentchat.gateway.serve import GatewayServer

__all__ = ["gateway", "gateway_server", "serve_worker", "worker"]


async def serve_worker(
    agents: Sequence[Agent],
    settings: Settings,
    ready_message: str,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve `agents` until Ctrl-C or SIGTERM, printing `ready_message` once serving."""

    def ready() -> None:
        click.echo(ready_message)
        if on_ready is not None:
            on_ready()

    if not await serve_until_signalled(agents, settings, on_ready=ready):
        click.echo("stopped without draining: running steps will be retried elsewhere", err=True)


@click.command()
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
    settings = settings_from(**conn)
    refs: list[str | Agent] = list(agent_refs)
    if demo:
        refs.append("agentchat.demo:agents")
    try:
        agents = load_agents(refs)
    except AgentChatError as exc:
        raise click.UsageError(str(exc)) from None
    ready = (
        f"worker ready: {', '.join(a.name for a in agents)}"
        f" on {settings.temporal_address} queue {settings.task_queue!r}"
    )
    exit_now(run(serve_worker(agents, settings, ready)))


def gateway_server(
    settings: Settings, host: str, port: int, default_agent: str | None
) -> GatewayServer:
    """The gateway on `host`:`port`; a usage error if its extra is missing or an open gateway
    would listen beyond loopback."""
    try:
        # Imported here, not at the top: the gateway's extra (fastapi, uvicorn, sse-starlette)
        # is optional, and only `gateway` and `dev` need it.
        from agentchat.gateway import GatewayConfig
        from agentchat.gateway.serve import GatewayServer
    except ImportError:
        raise click.UsageError(
            "the gateway needs its extra: pip install 'agentchat[gateway]'"
        ) from None
    config = GatewayConfig()
    if default_agent:
        config = dataclasses.replace(config, default_agent=default_agent)
    try:
        config.check_host(host)  # GatewayServer checks too; here it is a usage error
    except AgentChatError as exc:
        raise click.UsageError(str(exc)) from None
    return GatewayServer(settings, config, host=host, port=port)


@click.command()
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
    server = gateway_server(settings_from(**conn), host, port, default_agent)
    click.echo(f"gateway on http://{host}:{port}/ (API: /docs)")
    exit_now(run(server.serve()))
