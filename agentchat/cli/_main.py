"""The `agentchat` command: `dev`, `worker`, `gateway`, `check`, `send`, `chat`."""

from __future__ import annotations

import dataclasses
import os
import sys

try:
    import click
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit("the agentchat command needs click: pip install 'agentchat[cli]'")

from agentchat.cli._check import check
from agentchat.cli._dev import dev
from agentchat.cli._serve import gateway, worker
from agentchat.cli._talk import chat, send
from agentchat.errors import AgentChatError
from agentchat.logs import configure_logging
from agentchat.settings import Settings
from agentchat.tracing import configure_tracing

__all__ = ["main"]

SERVERS = ("worker", "gateway")
"""Commands that log at INFO unless told otherwise."""


@click.group()
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
    try:
        configure_logging(settings)
        configure_tracing()
    except AgentChatError as exc:
        raise click.UsageError(str(exc)) from None


for command in (worker, gateway, check, dev, send, chat):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
