"""`agentchat dev`: the embedded stack, run as a real process and stopped as Ctrl-C would."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from agentchat.testing.local import free_port
from tests.cli.conftest import read_until, start_dev


def dev_ports() -> list[str]:
    return ["--temporal-port", str(free_port()), "--redis-port", str(free_port())]


def processes_using(folder: Path) -> dict[int, str]:
    """Live processes working in `folder` or naming it on their command line, with their
    command lines. Unlike a parent's children, this also finds the orphans it left."""
    found: dict[int, str] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to look at
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z" and (
                str(folder) in command or (proc / "cwd").resolve().is_relative_to(folder)
            ):
                found[int(proc.name)] = command
    return found


@contextlib.contextmanager
def running_dev(data: Path, *args: str, **kwargs: Any) -> Iterator[subprocess.Popen[str]]:
    """`agentchat dev` with its state in `data`; afterwards nothing using `data` runs on,
    whatever the test saw."""
    process = start_dev(data, *args, **kwargs)
    try:
        yield process
    finally:
        for pid in processes_using(data):  # dev and its servers each lead a process group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        process.wait()


def test_dev_runs_the_stack_and_resumes_it(tmp_path: Path) -> None:
    web = free_port()
    ports = [*dev_ports(), "--gateway-port", str(web)]
    for round_ in (1, 2):
        with running_dev(tmp_path / "data", *ports) as process:
            try:
                assert process.stdout is not None
                output = read_until(process, process.stdout, "in this conversation")
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
                with contextlib.suppress(ProcessLookupError):  # it exited: the assert says why
                    os.killpg(process.pid, signal.SIGINT)
            rest, _ = process.communicate(timeout=60)
        assert "agentchat dev is ready" in output, output + rest
        assert f"chat page: http://127.0.0.1:{web}/" in output, output
        assert "You said: Hello!." in output, output + rest
        # The second run resumed the same demo chat: the model saw the earlier exchange.
        expected = "1 message in" if round_ == 1 else "2 messages in"
        assert expected in output, output
        assert "stopping" in rest and process.returncode == 0, rest


def test_ctrl_c_stops_the_stack_when_stdout_is_a_closed_pipe(tmp_path: Path) -> None:
    """`agentchat dev | tee log`, then Ctrl-C: tee is gone before dev prints "stopping", and
    the Temporal server and Redis (in sessions of their own, out of Ctrl-C's reach) must
    stop all the same rather than outlive it."""
    data = tmp_path / "data"
    log = tmp_path / "stderr.log"
    reader, writer = os.pipe()
    with (
        open(log, "w") as stderr,  # stderr stays at the "terminal", as with `| tee`
        running_dev(
            data, *dev_ports(), "--gateway-port", str(free_port()), stdout=writer, stderr=stderr
        ) as process,
    ):
        os.close(writer)
        with open(reader) as out:
            output = read_until(process, out, "in this conversation")
            assert process.poll() is None, output + log.read_text()
        # The pipe's reader is gone, as when Ctrl-C also ends `tee`.
        servers = processes_using(data)
        servers.pop(process.pid, None)
        commands = " ".join(servers.values())
        assert len(servers) == 2 and "redis-server" in commands and "temporal" in commands
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C at a terminal does
        process.wait(60)
        left = processes_using(data)
        assert not left, f"dev exited {process.returncode}, leaving {left}\n{log.read_text()}"
        assert process.returncode == 0, log.read_text()


def test_ctrl_c_again_and_again_still_stops_the_stack(tmp_path: Path) -> None:
    """An impatient Ctrl-C, pressed until dev exits, must not cut its stopping of the
    servers short (some presses land while it waits for them to exit)."""
    data = tmp_path / "data"
    with running_dev(data, *dev_ports(), "--gateway-port", "0") as process:
        assert process.stdout is not None
        output = read_until(process, process.stdout, "in this conversation")
        assert process.poll() is None, output + process.stdout.read()
        assert len(processes_using(data)) == 3, processes_using(data)  # dev and its servers
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
            time.sleep(0.05)
        rest = process.stdout.read()
        assert process.poll() is not None, "dev did not exit"
        left = processes_using(data)
        assert not left, f"dev exited {process.returncode}, leaving {left}\n{rest}"
