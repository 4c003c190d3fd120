"""`/api/chat` read by the real `ai` package: v5 and v6 clients that validate every chunk strictly
(z.strictObject) and enforce part ordering, through `DefaultChatTransport` and
`readUIMessageStream` (tests/gateway/aisdk/drive.mjs)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from tests.gateway.conftest import require

AISDK = Path(__file__).parent / "aisdk"
MAJORS = pytest.mark.parametrize("major", ["5", "6"])
TIMEOUT = 90.0


class Gateway(Protocol):
    url: str
    api_key: str


def _stale() -> bool:
    """Whether node_modules lacks a dependency of package.json at its pinned version."""
    wanted: dict[str, str] = json.loads((AISDK / "package.json").read_text())["dependencies"]
    for name, spec in wanted.items():
        installed = AISDK / "node_modules" / name / "package.json"
        if not installed.exists():
            return True
        if json.loads(installed.read_text())["version"] != spec.rsplit("@", 1)[-1]:
            return True
    return False


@pytest.fixture(scope="module", autouse=True)
def node_packages() -> None:
    require(
        shutil.which("node") is not None and shutil.which("npm") is not None,
        "node and npm are needed to run the ai package (apt install nodejs npm)",
    )
    if not _stale():
        return
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund"],
        cwd=AISDK,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0 or _stale():
        pytest.fail(f"npm install failed in {AISDK}:\n{done.stdout}\n{done.stderr}")


async def drive(
    gateway: Gateway,
    major: str,
    scenario: str,
    chat_id: str,
    agent: str = "quick",
    text: str = "hello",
) -> dict[str, Any]:
    """Runs one drive.mjs scenario; any error the ai package raises fails the test."""
    process = await asyncio.create_subprocess_exec(
        "node",
        "drive.mjs",
        major,
        scenario,
        gateway.url,
        chat_id,
        agent,
        gateway.api_key,
        text,
        cwd=AISDK,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"ai@{major} {scenario} ({agent}) timed out after {TIMEOUT} s")
    assert process.returncode == 0, f"ai@{major} {scenario} ({agent}) failed:\n{err.decode()}"
    result: dict[str, Any] = json.loads(out.decode().splitlines()[-1])
    return result


def text_of(message: dict[str, Any]) -> str:
    return "".join(part["text"] for part in message["parts"] if part["type"] == "text")


async def stored_message(gateway: Gateway, chat_id: str, message_id: str) -> dict[str, Any]:
    """The assistant message `message_id` from `GET /v1/chats/{id}`, once the transcript has it."""
    headers = {"Authorization": f"Bearer {gateway.api_key}"} if gateway.api_key else {}
    deadline = time.monotonic() + 20
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers) as client:
        while True:
            response = await client.get(f"/v1/chats/{chat_id}")
            response.raise_for_status()
            messages: list[dict[str, Any]] = response.json()["messages"]
            for message in messages:
                if message["id"] == message_id and message["role"] == "assistant":
                    return message
            if time.monotonic() > deadline:
                pytest.fail(f"assistant message {message_id} never stored; have {messages}")
            await asyncio.sleep(0.1)


def assert_whole_turn(result: dict[str, Any]) -> dict[str, Any]:
    chunks: list[str] = result["chunks"]
    assert chunks[0] == "start" and chunks[-1] == "finish", chunks
    assert "text-delta" in chunks, chunks
    assert all(response["stream"] == "v1" for response in result["responses"]), result
    message: dict[str, Any] = result["message"]
    assert message["role"] == "assistant" and text_of(message), message
    return message


@MAJORS
async def test_text_turn(gateway: Gateway, major: str) -> None:
    chat_id = f"aisdk-{uuid.uuid4().hex[:12]}"
    message = assert_whole_turn(await drive(gateway, major, "text", chat_id))
    assert text_of(await stored_message(gateway, chat_id, message["id"])) == text_of(message)


@MAJORS
async def test_tool_turn(
    gateway: Gateway, major: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The in-process worker's slow_tool logs to $TOOL_LOG and sleeps $TOOL_SECONDS.
    monkeypatch.setenv("TOOL_LOG", str(tmp_path / "tool.log"))
    monkeypatch.setenv("TOOL_SECONDS", "0.5")
    chat_id = f"aisdk-{uuid.uuid4().hex[:12]}"
    # The offline model calls the tools a user message names.
    result = await drive(gateway, major, "text", chat_id, "tooly", "please run slow_tool")
    message = assert_whole_turn(result)
    tools = [part for part in message["parts"] if part["type"].startswith("tool-")]
    assert tools and all(part["state"] == "output-available" for part in tools), message


@MAJORS
async def test_resume_without_a_turn_is_null(gateway: Gateway, major: str) -> None:
    chat_id = f"aisdk-{uuid.uuid4().hex[:12]}"
    assert (await drive(gateway, major, "resume", chat_id))["resumed"] is None
    assert_whole_turn(await drive(gateway, major, "text", chat_id))
    assert (await drive(gateway, major, "resume", chat_id))["resumed"] is None


@MAJORS
async def test_resume_replays_the_active_turn_from_its_start(gateway: Gateway, major: str) -> None:
    chat_id = f"aisdk-{uuid.uuid4().hex[:12]}"
    result = await drive(gateway, major, "send-then-resume", chat_id, agent="slow")
    assert result["before"][-1] == "text-delta", result["before"]
    message = assert_whole_turn(result)
    stored = await stored_message(gateway, chat_id, message["id"])
    assert text_of(message) == text_of(stored)
    assert len(text_of(message).split()) > 1
