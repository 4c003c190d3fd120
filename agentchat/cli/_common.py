"""What the commands share: the connection options, and running a command to its exit code."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn

import click

from agentchat.errors import AgentChatError
from agentchat.settings import Settings

__all__ = ["connection_options", "exit_now", "run", "settings_from"]

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
    """Add `--temporal-address`, `--namespace`, `--task-queue` and `--redis-url`."""
    for option in reversed(_connection_options):
        func = option(func)
    return func


def settings_from(
    temporal_address: str | None,
    namespace: str | None,
    task_queue: str | None,
    redis_url: str | None,
) -> Settings:
    """The settings the connection options and the environment describe."""
    return Settings().with_overrides(
        temporal_address=temporal_address,
        temporal_namespace=namespace,
        task_queue=task_queue,
        redis_url=redis_url,
    )


def run(coro: Coroutine[Any, Any, Any]) -> int:
    """Run a command's coroutine; returns the exit code (1 with a clear message on errors)."""
    try:
        asyncio.run(coro)
    except AgentChatError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    return 0


def exit_now(code: int) -> NoReturn:
    """Leave the process with `code`, without interpreter finalization.

    The Temporal client's native threads can call back into Python while it is being torn
    down and abort the process (seen in CI as "PyGILState_Release ... finalizing").
    Everything is flushed and closed by now.
    """
    for stream in (sys.stdout, sys.stderr):
        # Output nobody reads any more (its pipe closed) must not keep the process from leaving.
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
    os._exit(code)
