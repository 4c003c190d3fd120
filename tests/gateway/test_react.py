"""A React page on `@ai-sdk/react`'s `useChat` (AI SDK 7), bundled by the test with esbuild
from npm (tests/gateway/react/) and driven in real Chromium against a real gateway and worker:
send and stream, reload mid-answer and resume, stop, approve and deny a tool call.

The page is served by its own loopback server, another origin than the gateway's, which lets
it in through `cors_origins` (`AGENTCHAT_CORS_ORIGINS`) as a deployed app's gateway would.
Every wait is for a condition in the page, never a sleep.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from agentchat import Agent, Settings
from agentchat.gateway import GatewayConfig, create_app
from agentchat.gateway.auth import Auth
from agentchat.models import OfflineModel
from agentchat.testing.local import free_port
from agentchat.tools import tool
from tests import agents
from tests.conftest import StartWorker
from tests.gateway.conftest import API_KEY, WAIT_MS, GatewayServer, serve, shutdown
from tests.gateway.test_aisdk import npm_install

REACT = Path(__file__).parent / "react"


@tool(requires_approval=True)
async def delete_file(path: str) -> str:
    """Delete a file.

    Args:
        path: Which file.
    """
    return f"deleted {path}"


approver = Agent(
    name="approver",
    model=OfflineModel(tokens_per_second=0, first_token_delay=0.0),
    tools=[delete_file],
)

#: A longer answer than `slow`'s (about 9 s): a reload lands well inside it on a busy machine.
storyteller = Agent(
    name="storyteller",
    model=OfflineModel(tokens_per_second=25, first_token_delay=0.0, words=200),
    step_heartbeat=timedelta(seconds=2),
)

# Hooks of the page (tests/gateway/react/app.jsx).
CHAT = '[data-testid="chat"]'
INPUT = '[data-testid="composer-input"]'
SEND = '[data-testid="send-button"]'
STOP = '[data-testid="stop-button"]'
ERROR = '[data-testid="error"]'

# The page's messages as it shows them: [{id, role, text}].
READ_MESSAGES = """() => [...document.querySelectorAll('[data-testid="message"]')].map((m) => ({
  id: m.dataset.messageId,
  role: m.dataset.role,
  text: [...m.querySelectorAll('[data-testid="message-text"]')]
    .map((t) => t.textContent).join(''),
}))"""


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`npm install` in tests/gateway/react, then esbuild bundles app.jsx beside index.html."""
    npm_install(REACT)
    out = tmp_path_factory.mktemp("react-page")
    done = subprocess.run(
        [
            str(REACT / "node_modules" / ".bin" / "esbuild"),
            "app.jsx",
            "--bundle",
            "--format=esm",
            "--jsx=automatic",
            '--define:process.env.NODE_ENV="production"',
            f"--outfile={out / 'app.js'}",
            "--log-level=warning",
        ],
        cwd=REACT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        pytest.fail(f"esbuild failed in {REACT}:\n{done.stdout}\n{done.stderr}")
    shutil.copy(REACT / "index.html", out / "index.html")
    return out


@dataclass
class Site:
    """The page's origin, and the gateway that lets it in."""

    origin: str
    gateway: GatewayServer

    def url(self, chat_id: str, agent: str) -> str:
        token = self.gateway.mint_token(chat_id)
        return (
            f"{self.origin}/index.html?gateway={self.gateway.url}"
            f"&chat={chat_id}&agent={agent}&token={token}"
        )


@pytest.fixture
async def site(
    bundle: Path,
    settings: Settings,
    start_worker: StartWorker,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> AsyncIterator[Site]:
    monkeypatch.setenv("TOOL_LOG", str(tmp_path / "tool.log"))
    monkeypatch.setenv("TOOL_SECONDS", "0.5")
    await start_worker(*agents.all, approver, storyteller)
    static_port = free_port()
    origin = f"http://127.0.0.1:{static_port}"
    static = await serve(Starlette(routes=[Mount("/", StaticFiles(directory=bundle))]), static_port)
    config = GatewayConfig(
        api_keys=(API_KEY,),
        keepalive_seconds=1.0,
        token_secret="s" * 32,
        cors_origins=(origin,),
    )
    port = free_port()
    server = await serve(create_app(settings, config), port)
    gateway = GatewayServer(
        url=f"http://127.0.0.1:{port}",
        api_key=API_KEY,
        auth=Auth(config.api_keys, config.token_secret),
        settings=settings,
    )
    yield Site(origin, gateway)
    await shutdown(server)
    await shutdown(static)


@pytest.fixture
async def page(browser: Browser, site: Site) -> AsyncIterator[Page]:
    """A fresh context; closed before the gateway stops. Uncaught errors fail the test."""
    context = await browser.new_context()
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def console(message: ConsoleMessage) -> None:
        # The page asks for the transcript of a chat that may not exist yet: that 404 is
        # an answer, not an error.
        url = message.location.get("url", "")
        history = re.fullmatch(rf"{re.escape(site.gateway.url)}/v1/chats/[^/]+", url)
        if message.type == "error" and not (history and "404" in message.text):
            errors.append(f"{message.text} ({url})")

    page.on("console", console)
    yield page
    await context.close()
    assert not errors, f"errors in the page: {errors}"


def new_chat_id(what: str) -> str:
    return f"react-{what}-{uuid.uuid4().hex[:12]}"


async def open_chat(page: Page, site: Site, chat_id: str, agent: str) -> None:
    await page.goto(site.url(chat_id, agent))
    await page.wait_for_selector(INPUT)


async def send(page: Page, text: str) -> None:
    await page.fill(INPUT, text)
    await page.click(SEND)


async def wait_for_text(page: Page, fragment: str, status: str | None = None) -> None:
    """Until the newest assistant message shows `fragment` (and useChat's status is `status`)."""
    await page.wait_for_function(
        """([fragment, status]) => {
          const chat = document.querySelector('[data-testid="chat"]');
          const all = document.querySelectorAll('[data-testid="message"][data-role="assistant"]');
          const last = all[all.length - 1];
          return chat && (status === null || chat.dataset.status === status)
            && last && last.textContent.includes(fragment);
        }""",
        arg=[fragment, status],
    )


async def transcript(site: Site, chat_id: str) -> list[dict[str, Any]]:
    async with site.gateway.client() as client:
        response = await client.get(f"/v1/chats/{chat_id}")
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


async def settled(page: Page, site: Site, chat_id: str, roles: list[str]) -> list[dict[str, Any]]:
    """The transcript once it has `roles` and matches the page (the store may trail the
    stream by a moment); fails, showing both, if it does not within 20 s."""
    deadline = time.monotonic() + 20
    while True:
        messages = await transcript(site, chat_id)
        on_page = await page.evaluate(READ_MESSAGES)
        if [m["role"] for m in messages] == roles and on_page == shown(messages):
            return messages
        if time.monotonic() > deadline:
            pytest.fail(f"the page shows {on_page}\nthe transcript has {messages}")
        await asyncio.sleep(0.1)


def text_of(message: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in message["parts"] if p.get("type") == "text")


def shown(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The transcript as the page should show it."""
    return [{"id": m["id"], "role": m["role"], "text": text_of(m)} for m in messages]


async def test_send_streams_the_answer(page: Page, site: Site) -> None:
    chat_id = new_chat_id("send")
    await open_chat(page, site, chat_id, "slow")
    await send(page, "tell me a story")

    # Streaming: part of the answer shows while useChat still reads it.
    await wait_for_text(page, "word3", "streaming")
    (_, partial) = await page.evaluate(READ_MESSAGES)
    assert "word79" not in partial["text"], "the answer arrived whole, not streamed"
    assert await page.is_visible(STOP)

    await wait_for_text(page, "word79", "ready")
    messages = await settled(page, site, chat_id, ["user", "assistant"])
    assert text_of(messages[1]).startswith("You said: tell me a story.")
    assert not await page.is_visible(STOP)
    assert not await page.is_visible(ERROR)


async def test_reload_mid_answer_resumes_it_whole_and_once(page: Page, site: Site) -> None:
    chat_id = new_chat_id("reload")
    await open_chat(page, site, chat_id, "storyteller")
    await send(page, "tell me a long story")
    await wait_for_text(page, "word3", "streaming")
    (_, before) = await page.evaluate(READ_MESSAGES)
    assert "word199" not in before["text"], "the answer finished before the reload"

    resumes: list[int] = []
    stream = f"{site.gateway.url}/api/v7/chat/{chat_id}/stream"
    page.on("response", lambda r: resumes.append(r.status) if r.url == stream else None)
    await page.reload()
    # useChat({ resume: true }) reconnects to the running turn, which the gateway replays
    # from its start: the answer is rebuilt once, and completes.
    await wait_for_text(page, "word199", "ready")
    assert resumes == [200], resumes  # the turn was still running: resumed, not reloaded
    messages = await settled(page, site, chat_id, ["user", "assistant"])
    page_messages = shown(messages)
    assert page_messages[1]["text"].startswith("You said: tell me a long story.")
    assert page_messages[1]["text"].count("word199") == 1
    assert page_messages[1]["text"].count("You said:") == 1
    assert not await page.is_visible(ERROR)


async def test_stop_keeps_the_partial_answer(page: Page, site: Site) -> None:
    chat_id = new_chat_id("stop")
    await open_chat(page, site, chat_id, "slow")
    await send(page, "count slowly")
    await wait_for_text(page, "word2", "streaming")
    await page.click(STOP)

    await page.wait_for_selector(f'{CHAT}[data-status="ready"]')
    # The page keeps the partial answer, exactly as the transcript has it.
    messages = await settled(page, site, chat_id, ["user", "assistant"])
    assert (messages[1].get("metadata") or {}).get("status") == "stopped"
    partial = text_of(messages[1])
    assert "word2" in partial and "word79" not in partial
    assert not await page.is_visible(STOP)
    assert not await page.is_visible(ERROR)


async def test_tool_approval_and_denial(page: Page, site: Site) -> None:
    chat_id = new_chat_id("approve")
    await open_chat(page, site, chat_id, "approver")
    tool = '[data-testid="tool"]'

    # The offline model calls the tool the message names; the turn waits for a decision.
    await send(page, "delete_file notes.txt")
    await page.wait_for_selector(f'{tool}[data-state="approval-requested"]')
    # The turn's stream stays open while it waits, so useChat does not post the decision
    # itself (`sendAutomaticallyWhen` waits for a closed stream): the page posts it.
    assert await page.get_attribute(CHAT, "data-status") == "streaming"
    await page.click('[data-testid="approve"]')
    await page.wait_for_selector(f'{tool}[data-state="output-available"]')
    await page.wait_for_selector(f'{CHAT}[data-status="ready"]')
    output = await page.locator('[data-testid="tool-output"]').text_content()
    assert output == '"deleted delete_file notes.txt"'

    # The next turn asks again; this time the answer is no.
    await send(page, "delete_file secrets.txt")
    await page.wait_for_selector(f'{tool}[data-state="approval-requested"]')
    await page.click('[data-testid="deny"]')
    await page.wait_for_selector(f'{tool}[data-state="output-denied"]')
    await page.wait_for_selector(f'{CHAT}[data-status="ready"]')

    messages = await settled(page, site, chat_id, ["user", "assistant", "user", "assistant"])
    calls = [
        [p for p in m["parts"] if p["type"] == "tool-delete_file"]
        for m in messages
        if m["role"] == "assistant"
    ]
    assert [[p["state"] for p in c] for c in calls] == [["output-available"], ["output-denied"]]
    assert [c[0]["approval"]["approved"] for c in calls] == [True, False]
    states = await page.eval_on_selector_all(tool, "(ts) => ts.map((t) => t.dataset.state)")
    assert states == ["output-available", "output-denied"]
    assert not await page.is_visible(ERROR)
