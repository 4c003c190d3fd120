"""Helpers for running the `agentchat` command as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from agentchat import Settings
from tests.conftest import ROOT

DEV_ENV = {"PYTHONPATH": str(ROOT), "OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}
"""`agentchat dev` with the offline demo model, whatever the machine's environment says."""


def cli(
    *args: str, settings: Settings | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run `python -m agentchat <args>` to the end (against `settings`' servers, if given)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if settings is not None:
        env.update(
            AGENTCHAT_TEMPORAL_ADDRESS=settings.temporal_address,
            AGENTCHAT_REDIS_URL=settings.redis_url,
            AGENTCHAT_TASK_QUEUE=settings.task_queue,
        )
    return subprocess.run(
        [sys.executable, "-m", "agentchat", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
        cwd=ROOT,
        **kwargs,
    )


def start_dev(
    data_dir: Path, *args: str, env: dict[str, str] | None = None, **kwargs: Any
) -> subprocess.Popen[str]:
    """`agentchat dev` in a session of its own (so the test can Ctrl-C its process group).

    Output goes to a pipe unless `stdout`/`stderr` say otherwise."""
    options: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, **kwargs}
    return subprocess.Popen(
        [sys.executable, "-m", "agentchat", "dev", "--data-dir", str(data_dir), *args],
        env={**os.environ, **DEV_ENV, **(env or {})},
        text=True,
        cwd=ROOT,
        start_new_session=True,
        **options,
    )


def read_until(process: subprocess.Popen[str], out: IO[str], text: str, within: float = 90) -> str:
    """Lines of `out` up to the first holding `text` (fewer if the process exits first)."""
    lines: list[str] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        line = out.readline()
        lines.append(line)
        if text in line or process.poll() is not None:
            break
    return "".join(lines)
