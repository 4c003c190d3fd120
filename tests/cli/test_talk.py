"""`agentchat send` and `agentchat chat`, run as real processes against a worker."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from agentchat import Settings
from tests.cli.conftest import cli
from tests.conftest import ROOT


def test_send_streams_the_answer(settings: Settings, worker_process: Callable[..., Any]) -> None:
    worker_process()
    done = cli("send", "quick", "Hello from the CLI", "--id", "cli-1", settings=settings)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("You said: Hello from the CLI.")
    assert "chat cli-1" in done.stderr


def test_demo_shows_a_tool_call_and_a_delegation(
    settings: Settings, worker_process: Callable[..., Any]
) -> None:
    worker_process(
        env={"OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", "AGENTCHAT_DEMO_RATE": "200"},
        args=("--demo",),
        agents="tests.agents:quick",
    )
    timed = cli("send", "demo", "What is the current time?", settings=settings)
    assert timed.returncode == 0, timed.stderr
    assert "[tool current_time()]" in timed.stdout
    assert "Here is what the tools returned: 20" in timed.stdout
    delegated = cli("send", "demo", "Ask researcher about tides", settings=settings)
    assert delegated.returncode == 0, delegated.stderr
    assert "[tool ask_researcher(task='Ask researcher about tides')]" in delegated.stdout
    assert "  | You said: Ask researcher about tides." in delegated.stdout
    assert "Here is what the tools returned: You said: Ask researcher" in delegated.stdout


def test_chat_is_interactive(settings: Settings, worker_process: Callable[..., Any]) -> None:
    worker_process()
    done = cli(
        "chat",
        "quick",
        "--id",
        "cli-2",
        settings=settings,
        input="first line\nsecond line\n/history\n/quit\n",
    )
    assert done.returncode == 0, done.stderr
    assert "You said: first line." in done.stdout and "You said: second line." in done.stdout
    assert "user: second line" in done.stdout


def test_chat_at_a_terminal_steers_and_ctrl_c_stops_the_answer(
    settings: Settings, worker_process: Callable[..., Any]
) -> None:
    worker_process(env={"SLOW_RATE": "12"})  # answers long enough to steer and stop them
    master, slave = pty.openpty()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AGENTCHAT_TEMPORAL_ADDRESS": settings.temporal_address,
        "AGENTCHAT_REDIS_URL": settings.redis_url,
        "AGENTCHAT_DATABASE_URL": settings.database_url or "",
        "AGENTCHAT_TASK_QUEUE": settings.task_queue,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "agentchat", "chat", "slow", "--id", "tty"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=ROOT,
    )
    os.close(slave)
    seen = ""

    def wait_for(text: str, timeout: float = 60) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while text not in seen:
            assert time.monotonic() < deadline, f"no {text!r} in {seen!r}"
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                seen += os.read(master, 4096).decode(errors="replace")

    try:
        wait_for("> ")
        os.write(master, b"tell me a story\n")
        wait_for("You said: tell me a story.")
        os.write(master, b"make it short\n")
        wait_for("[steer: make it short]")
        wait_for("Understood, adjusting course: make it short.")
        seen = ""
        wait_for("> ")  # the steered turn is done
        os.write(master, b"another one\n")
        wait_for("You said: another one.")
        process.send_signal(signal.SIGINT)  # Ctrl-C: stops the answer, not the program
        wait_for("[stopped]")
        wait_for("> ")
        assert process.poll() is None
        os.write(master, b"/quit\n")
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
