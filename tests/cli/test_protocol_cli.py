"""`--protocol FOLDER` on `agentchat worker` and `agentchat dev`: agents from protocol folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agentchat import AgentChat, Settings
from tests.cli.conftest import cli
from tests.conftest import WorkerProcess, agentchat_process

EXAMPLE = "examples/support"


async def test_the_worker_serves_the_support_example(
    settings: Settings, tmp_path: Path, new_chat: Callable[..., AgentChat]
) -> None:
    log = tmp_path / "worker.log"
    args = ["worker", "--protocol", EXAMPLE, "--protocol-model", "offline:0"]
    worker = WorkerProcess(agentchat_process(settings, args, None, log), log)
    try:
        await worker.wait_ready()
        assert "worker ready: support on" in log.read_text()
        chat = new_chat(agent="support", inputs={"USER_ID": "u-1"})
        assert await (await chat.send_message("hello")).text()
        stream = await chat.trigger("request-human", {})
        assert (await stream.result()).text
        # The summary thread's answer, saved by set-resource; the ticket tool ran in the
        # worker, from examples/support/tools.py.
        assert (await chat.resources())["CONVERSATION_SUMMARY"]
        history = await chat.history()
        assert any(m.metadata == {"hidden": True} for m in history)  # the ticket directive
        assert "TKT-" in str(history[-2].parts)
    finally:
        worker.kill()


def test_a_bad_protocol_folder_is_a_usage_error(settings: Settings, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    done = cli("worker", "--protocol", str(missing), settings=settings)
    assert done.returncode == 2, done.stderr
    assert f"protocol folder {missing} does not exist" in done.stderr
    # dev checks it before starting anything.
    data = tmp_path / "data"
    done = cli("dev", "--data-dir", str(data), "--protocol", str(missing))
    assert done.returncode == 2 and "does not exist" in done.stderr, done.stderr
    assert not data.exists()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "protocol.yaml").write_text("agent: [\n")
    done = cli("dev", "--data-dir", str(data), "--protocol", str(broken))
    assert done.returncode == 2 and "protocol.yaml: line 2" in done.stderr, done.stderr
    done = cli("worker", settings=settings)
    assert done.returncode == 2 and "--agents MODULE:ATTR or --protocol FOLDER" in done.stderr


def test_the_help_shows_the_option() -> None:
    for command in ("dev", "worker"):
        done = cli(command, "--help")
        assert "--protocol FOLDER" in done.stdout and "--protocol-model" in done.stdout
