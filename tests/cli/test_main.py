"""What every command shares: clear errors and exit codes."""

from __future__ import annotations

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
