"""`/api/chat` read by the real `ai` package: v5 and v6 clients that validate every chunk strictly
(z.strictObject), v7 clients that reject unknown chunk types, all enforcing part ordering,
through `DefaultChatTransport` and `readUIMessageStream` (tests/gateway/aisdk/drive.mjs).

Each major uses its own route (`/api/v5/chat`, `/api/chat`, `/api/v7/chat`); a v7 client is
also run against the plain `/api/chat`, which is what `useChat()` posts to by default. A worker
killed mid-answer shows that v7 clients get `reset-step` and keep the retried step's text once."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from agentchat import Settings
from tests.conftest import WorkerProcess
from tests.gateway.conftest import GatewayServer, require, running_gateway

AISDK = Path(__file__).parent / "aisdk"
#: (major, route): None is the major's own route; "/api/chat" runs v7 on the v6 default.
CLIENTS = [("5", None), ("6", None), ("7", None), ("7", "/api/chat")]
MAJORS = pytest.mark.parametrize(
    ("major", "route"), CLIENTS, ids=["ai5", "ai6", "ai7", "ai7-plain-route"]
)
TIMEOUT = 90.0


class Gateway(Protocol):
    url: str
    api_key: str


def stale(folder: Path) -> bool:
    """Whether `folder`'s node_modules lacks a dependency of its package.json at the pinned
    version."""
    wanted: dict[str, str] = json.loads((folder / "package.json").read_text())["dependencies"]
    for name, spec in wanted.items():
        installed = folder / "node_modules" / name / "package.json"
        if not installed.exists():
            return True
        if json.loads(installed.read_text())["version"] != spec.rsplit("@", 1)[-1]:
            return True
    return False


def npm_install(folder: Path) -> None:
    """`npm install` in `folder` unless its pinned packages are there; fails the test if the
    install does (and, outside CI, skips it when node or npm is missing)."""
    require(
        shutil.which("node") is not None and shutil.which("npm") is not None,
        "node and npm are needed to run the ai package (apt install nodejs npm)",
    )
    if not stale(folder):
        return
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0 or stale(folder):
        pytest.fail(f"npm install failed in {folder}:\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="module", autouse=True)
def node_packages() -> None:
    npm_install(AISDK)


def node_env(route: str | None) -> dict[str, str]:
    """The environment of a node script: `AISDK_ROUTE` overrides the major's own route."""
    env = {k: v for k, v in os.environ.items() if k != "AISDK_ROUTE"}
    if route is not None:
        env["AISDK_ROUTE"] = route
    return env


async def drive(
    gateway: Gateway,
    major: str,
    route: str | None,
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
        env=node_env(route),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"ai@{major} {route} {scenario} ({agent}) timed out after {TIMEOUT} s")
    assert process.returncode == 0, (
        f"ai@{major} {route} {scenario} ({agent}) failed:\n{err.decode()}"
    )
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
async def test_text_turn(gateway: Gateway, major: str, route: str | None) -> None:
    chat_id = f"aisdk-{uuid.uuid4().hex[:12]}"
    message = assert_whole_turn(await drive(gateway, major, route, "text", chat_id))
    assert text_of(await stored_message(gateway, chat_id, message["id"])) == text_of(message)


@MAJORS
async def test_tool_turn(
    gateway: Gateway, major: str, route: str | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The in-process worker's slow_tool logs to $TOOL_LOG and sleeps $TOOL_SECONDS.
    monkeypatch.setenv("TOOL_LOG", str(tmp_path / "tool.log"))
    monkeypatch.setenv("TOOL_SECONDS", "0.5")
    chat_id = f"aisdk-{uuid.uuid4().hex[:12]}"
    # The offline model calls the tools a user message names.
    result = await drive(gateway, major, route, "text", chat_id, "tooly", "please run slow_tool")
    message = assert_whole_turn(result)
    tools = [part for part in message["parts"] if part["type"].startswith("tool-")]
    assert tools and all(part["state"] == "output-available" for part in tools), message


@MAJORS
async def test_resume_without_a_turn_is_null(
    gateway: Gateway, major: str, route: str | None
) -> None:
    chat_id = f"aisdk-{uuid.uuid4().hex[:12]}"
    assert (await drive(gateway, major, route, "resume", chat_id))["resumed"] is None
    assert_whole_turn(await drive(gateway, major, route, "text", chat_id))
    assert (await drive(gateway, major, route, "resume", chat_id))["resumed"] is None


@MAJORS
async def test_resume_replays_the_active_turn_from_its_start(
    gateway: Gateway, major: str, route: str | None
) -> None:
    chat_id = f"aisdk-{uuid.uuid4().hex[:12]}"
    result = await drive(gateway, major, route, "send-then-resume", chat_id, agent="slow")
    assert result["before"][-1] == "text-delta", result["before"]
    message = assert_whole_turn(result)
    stored = await stored_message(gateway, chat_id, message["id"])
    assert text_of(message) == text_of(stored)
    assert len(text_of(message).split()) > 1


@pytest.fixture
async def gateway_alone(settings: Settings) -> AsyncIterator[GatewayServer]:
    """A gateway with no worker of its own: the test runs its workers as processes."""
    async with running_gateway(settings) as server:
        yield server


async def test_ai7_drops_the_parts_of_a_retried_step(
    gateway_alone: GatewayServer, worker_process: Callable[..., WorkerProcess]
) -> None:
    # The worker dies mid-answer; the step runs again on another, and `/api/v7/chat` sends
    # `reset-step`: ai@7 drops the first attempt's text, so the answer shows once.
    first = worker_process()
    chat_id = f"aisdk-{uuid.uuid4().hex[:12]}"
    process = await asyncio.create_subprocess_exec(
        "node",
        "drive.mjs",
        "7",
        "text",
        gateway_alone.url,
        chat_id,
        "slow",
        gateway_alone.api_key,
        "tell me a long story",
        cwd=AISDK,
        env={**node_env(None), "AISDK_PROGRESS": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(TIMEOUT):
            # Kill the worker once ai@7 has read a few words of the answer.
            while line := await process.stdout.readline():  # empty: it ended early
                if json.loads(line).get("deltas", 0) >= 5:
                    break
            first.kill()
            worker_process()
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"ai@7 timed out after {TIMEOUT} s")
    assert process.returncode == 0, f"ai@7 failed:\n{err.decode()}"
    result = json.loads(out.decode().splitlines()[-1])
    message = assert_whole_turn(result)
    assert "reset-step" in result["chunks"], result["chunks"]
    stored = await stored_message(gateway_alone, chat_id, message["id"])
    assert text_of(message) == text_of(stored)
    assert text_of(message).count("You said:") == 1
