"""What every command shares: clear errors and exit codes."""

from __future__ import annotations

import subprocess
import sys

from agentchat import Settings
from agentchat.testing.local import free_port
from tests.cli.conftest import cli


def test_cli_errors_are_clear(settings: Settings) -> None:
    dead = Settings(
        temporal_address=f"127.0.0.1:{free_port()}", redis_url=settings.redis_url, task_queue="x"
    )
    done = cli("send", "quick", "hi", settings=dead)
    assert done.returncode == 1
    assert "cannot reach Temporal" in done.stderr and "Traceback" not in done.stderr
    bad = cli("worker", "--agents", "no.such.module:agents", settings=settings)
    assert bad.returncode == 2 and "cannot import no.such.module" in bad.stderr
    empty = cli("send", "quick", "   ", settings=settings)
    assert empty.returncode == 1 and "empty" in empty.stderr


def test_the_command_table_shows_each_command_s_own_help() -> None:
    import click

    from agentchat.cli._main import COMMANDS, main

    ctx = click.Context(main)
    for name, (_, shown) in COMMANDS.items():
        command = main.get_command(ctx, name)
        assert command is not None and command.name == name
        assert command.get_short_help_str(limit=200) == shown


def test_help_loads_no_client_library() -> None:
    code = (
        "import sys; from agentchat.cli import main\n"
        "try: main(['--help'])\n"
        "except SystemExit: pass\n"
        "print(sorted(m for m in ('temporalio', 'redis', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr
