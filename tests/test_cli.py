"""The `agentchat` command, run as a real process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from agentchat import Settings
from agentchat.testing.local import free_port

ROOT = Path(__file__).resolve().parent.parent


def cli(
    *args: str, settings: Settings | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
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


def test_dev_runs_the_stack_and_resumes_it(tmp_path: Path) -> None:
    web = free_port()
    ports = ["--temporal-port", str(free_port()), "--redis-port", str(free_port())]
    ports += ["--gateway-port", str(web)]
    for round_ in (1, 2):
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agentchat",
                "dev",
                "--data-dir",
                str(tmp_path / "data"),
                *ports,
            ],
            env={
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "OPENAI_API_KEY": "",
                "OPENAI_BASE_URL": "",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            start_new_session=True,
        )
        try:
            assert process.stdout is not None
            lines: list[str] = []
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                line = process.stdout.readline()
                lines.append(line)
                if "in this conversation" in line or process.poll() is not None:
                    break
            output = "".join(lines)
            assert process.poll() is None, output + process.stdout.read()
            if round_ == 1:  # the gateway and its chat page are up too, open on loopback
                page = httpx.get(f"http://127.0.0.1:{web}/", timeout=10)
                assert page.status_code == 200 and "<html" in page.text.lower()
                ack = httpx.post(
                    f"http://127.0.0.1:{web}/v1/chats/dev-web/messages",
                    json={"agent": "demo", "message": "hi"},
                    headers={"Accept": "application/json"},
                    timeout=30,
                )
                assert ack.status_code == 200 and ack.json()["run_id"], ack.text
        finally:
            with contextlib.suppress(ProcessLookupError):  # it exited: the assertion says why
                os.killpg(process.pid, signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
        assert "agentchat dev is ready" in output, output + rest
        assert f"chat page: http://127.0.0.1:{web}/" in output, output
        assert "You said: Hello!." in output, output + rest
        # The second run resumed the same demo chat: the model saw the earlier exchange.
        expected = "1 message in" if round_ == 1 else "2 messages in"
        assert expected in output, output
        assert "stopping" in rest and process.returncode == 0, rest


def test_chat_at_a_terminal_steers_and_ctrl_c_stops_the_answer(
    settings: Settings, worker_process: Callable[..., Any]
) -> None:
    import pty
    import select

    worker_process(env={"SLOW_RATE": "12"})  # answers long enough to steer and stop them
    master, slave = pty.openpty()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AGENTCHAT_TEMPORAL_ADDRESS": settings.temporal_address,
        "AGENTCHAT_REDIS_URL": settings.redis_url,
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
