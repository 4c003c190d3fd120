"""The `agentchat` command: `dev`, `worker`, `gateway`, `check`, `send`, `chat`."""

from __future__ import annotations

import dataclasses
import os
import sys
from importlib import import_module

try:
    import click
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit("the agentchat command needs click: pip install 'agentchat[cli]'")

from agentchat.errors import AgentChatError
from agentchat.settings import Settings

__all__ = ["main"]

SERVERS = ("worker", "gateway")
"""Commands that log at INFO unless told otherwise."""


COMMANDS = {
    "chat": ("agentchat.cli._talk", "Talk to AGENT interactively."),
    "check": (
        "agentchat.cli._check",
        "Check that Temporal, Redis, a worker and the gateway are reachable.",
    ),
    "dev": (
        "agentchat.cli._dev",
        "Run everything locally: Temporal dev server, Redis, and a worker.",
    ),
    "gateway": (
        "agentchat.cli._serve",
        "Serve the HTTP gateway: SSE API, AI SDK backend and chat page.",
    ),
    "send": ("agentchat.cli._talk", "Send MESSAGE to AGENT and stream the answer to stdout."),
    "worker": ("agentchat.cli._serve", "Serve agents: run the chat workflow and its activities."),
}
"""Each command's module and the line `agentchat --help` shows for it (tests/cli checks that
it is the command's own short help)."""


class _LazyCommands(click.Group):
    """Imports a command's module only when that command is used.

    The commands need Temporal, Redis and HTTP clients; imported all at once they made
    `agentchat --help` take 1.9 s instead of 0.4 s (measured on this 2-core machine).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        command: click.Command = getattr(import_module(COMMANDS[cmd_name][0]), cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])


@click.group(cls=_LazyCommands)
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
@click.version_option(package_name="agentchat")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Durable AI chat agents on Temporal and Redis."""
    settings = Settings()
    if verbose:
        settings = dataclasses.replace(settings, log_level="INFO")
    elif "AGENTCHAT_LOG_LEVEL" not in os.environ and ctx.invoked_subcommand not in SERVERS:
        # Commands talk to people on stdout; only servers log their INFO lines by default.
        settings = dataclasses.replace(settings, log_level="WARNING")
    # Here, not at the top: tracing imports the Temporal client, which `--help` does not need.
    from agentchat.logs import configure_logging
    from agentchat.tracing import configure_tracing

    try:
        configure_logging(settings)
        configure_tracing()
    except AgentChatError as exc:
        raise click.UsageError(str(exc)) from None


if __name__ == "__main__":  # pragma: no cover
    main()
