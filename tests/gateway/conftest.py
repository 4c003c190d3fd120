"""A real gateway on a free loopback port (uvicorn, in the test's event loop), in front of
an in-process worker serving the test agents, on the session's Temporal and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright

from agentchat import Settings
from agentchat.gateway import GatewayConfig, create_app
from agentchat.gateway.auth import Auth
from agentchat.testing.local import free_port
from tests import agents
from tests.conftest import StartWorker

API_KEY = "test-key-0123456789"

CHROMIUM = "/usr/bin/chromium"
HAVE_CHROMIUM = os.path.exists(CHROMIUM)
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 60_000  # generous: a loaded CI machine runs Temporal, Redis, a worker and Chromium


def in_ci() -> bool:
    """Whether this run is CI's (`CI` set, and not to "0" or "false")."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def require(available: bool, missing: str) -> None:
    """Skip the test when a tool it needs is missing, but fail it under CI, which installs
    every tool: there a missing one is a broken setup, not a reason to test less.

    `missing` says what is missing and how to install it.
    """
    if available:
        return
    if in_ci():
        pytest.fail(f"{missing}; CI runs these tests, so it must have it")
    pytest.skip(f"{missing}; CI runs these tests")


@dataclass
class GatewayServer:
    url: str
    api_key: str
    auth: Auth
    settings: Settings

    def mint_token(self, chat_id: str, agent: str | None = None, ttl: int = 600) -> str:
        return self.auth.mint(chat_id, agent, ttl)[0]

    def mint_user_token(self, user_id: str, ttl: int = 600) -> str:
        return self.auth.mint_user(user_id, None, ttl)[0]

    def client(self, credential: str | None = None, **kwargs: object) -> httpx.AsyncClient:
        """An httpx client for the gateway, with the API key unless told otherwise."""
        token = self.api_key if credential is None else credential
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(
            base_url=self.url,
            headers=headers,
            timeout=30.0,
            **kwargs,  # type: ignore[arg-type]
        )


async def serve(app: object, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    server.task = task  # type: ignore[attr-defined]
    for _ in range(500):
        if server.started:
            return server
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    raise RuntimeError("the gateway did not start")


async def shutdown(server: uvicorn.Server) -> None:
    server.should_exit = True
    await asyncio.wait_for(server.task, 15)  # type: ignore[attr-defined]


@pytest.fixture
async def gateway(
    settings: Settings,
    start_worker: StartWorker,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> AsyncIterator[GatewayServer]:
    # The in-process worker's slow_tool logs to $TOOL_LOG and sleeps $TOOL_SECONDS.
    monkeypatch.setenv("TOOL_LOG", str(tmp_path / "tool.log"))
    monkeypatch.setenv("TOOL_SECONDS", "0.5")
    await start_worker(*agents.all)
    async with running_gateway(settings) as server:
        yield server


@contextlib.asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[GatewayServer]:
    """A gateway on a free port with the tests' API key, stopped on leaving."""
    config = GatewayConfig(api_keys=(API_KEY,), keepalive_seconds=1.0, token_secret="s" * 32)
    port = free_port()
    server = await serve(create_app(settings, config), port)
    try:
        yield GatewayServer(
            url=f"http://127.0.0.1:{port}",
            api_key=API_KEY,
            auth=Auth(config.api_keys, config.token_secret),
            settings=settings,
        )
    finally:
        await shutdown(server)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium for the session's page tests."""
    require(HAVE_CHROMIUM, f"{CHROMIUM} is missing (apt install chromium)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser, gateway: GatewayServer) -> AsyncIterator[Page]:
    """A fresh browser context; closed before the gateway stops (its event streams end first)."""
    context = await browser.new_context(viewport={"width": 1100, "height": 780})
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    await context.close()
    assert not errors, f"uncaught errors in the page: {errors}"
