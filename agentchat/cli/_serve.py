"""`agentchat worker` and `agentchat gateway`: the servers of a deployment.

They parse their options and hand over to the worker's and the gateway's own serving code,
which drains on SIGTERM (see `agentchat.worker._signals` and `agentchat.gateway.serve`).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agentchat.agent import Agent, load_agents
from agentchat.cli._common import connection_options, exit_now, run, settings_from
from agentchat.errors import AgentChatError, ConfigurationError
from agentchat.settings import Settings
from agentchat.tools import Tool
from agentchat.worker._signals import serve_until_signalled

if TYPE_CHECKING:
    from agentchat.gateway.serve import GatewayServer

__all__ = [
    "gateway",
    "gateway_server",
    "protocol_agents",
    "protocol_options",
    "serve_worker",
    "worker",
]

PROTOCOL_TOOLS = "tools.py"
"""The file of a protocol folder whose `tools` list `--protocol` attaches to the protocol."""


def protocol_options(model_help: str) -> Callable[[Any], Any]:
    """`--protocol FOLDER` (repeatable) and `--protocol-model MODEL`."""

    def add(func: Any) -> Any:
        func = click.option(
            "--protocol-model",
            metavar="MODEL",
            default=None,
            help=f"The model of the --protocol agents: {model_help}",
        )(func)
        return click.option(
            "--protocol",
            "protocol_folders",
            multiple=True,
            metavar="FOLDER",
            type=click.Path(path_type=Path),
            help="Also serve the agent of an Octavus protocol folder (protocol.yaml,"
            f" prompts/*.md); the `tools` list of its {PROTOCOL_TOOLS}, if any, implements"
            " its tools. Repeatable.",
        )(func)

    return add


def protocol_agents(folders: Sequence[Path], model: str | None) -> list[Agent]:
    """The agents of protocol folders (`Agent.from_protocol`), with each folder's tools.

    Raises:
        ConfigurationError: A folder is not a protocol, or its tools.py cannot be used.
    """
    options: dict[str, Any] = {"model": model} if model else {}
    return [
        Agent.from_protocol(folder, tools=_folder_tools(folder), **options) for folder in folders
    ]


def _folder_tools(folder: Path) -> list[Tool]:
    path = folder / PROTOCOL_TOOLS
    if not path.is_file():
        return []
    name = f"agentchat_protocol_tools.{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ConfigurationError(f"{path}: importing it failed: {exc!r}") from exc
    tools = getattr(module, "tools", None)
    if not isinstance(tools, list | tuple) or not all(isinstance(t, Tool) for t in tools):
        raise ConfigurationError(f"{path}: expected a list of Tool objects named `tools`")
    return list(tools)


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
    metavar="MODULE:ATTR",
    help="Agents to serve (an Agent or a list of them); repeatable.",
)
@protocol_options("the file's agent.model when not given.")
@click.option("--demo/--no-demo", default=False, help="Also serve the built-in demo agent.")
@connection_options
def worker(
    agent_refs: tuple[str, ...],
    protocol_folders: tuple[Path, ...],
    protocol_model: str | None,
    demo: bool,
    **conn: Any,
) -> None:
    """Serve agents: run the chat workflow and its activities.

    Give the agents with --agents (Python) or --protocol (an Octavus protocol folder, such as
    examples/support), or both.
    """
    if not agent_refs and not protocol_folders:
        raise click.UsageError(
            "give the agents to serve: --agents MODULE:ATTR or --protocol FOLDER"
        )
    settings = settings_from(**conn)
    try:
        refs: list[str | Agent] = [*agent_refs, *protocol_agents(protocol_folders, protocol_model)]
        if demo:
            refs.append("agentchat.demo:agents")
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
