"""Serving the gateway with uvicorn, and draining it on SIGINT or SIGTERM.

A draining gateway answers `/readyz` with `503`, ends every open SSE stream at once (its
clients resume on another replica rather than holding the process for the grace period), tells
every WebSocket session to resume elsewhere (a `reconnect` frame, then close 1012) and
gives requests still in flight up to `shutdown_grace` seconds; it then exits 0. A second
signal stops it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Any

import uvicorn
from sse_starlette.sse import AppStatus

from agentchat.connections import get_store, require_database_url
from agentchat.errors import ConfigurationError, StoreUnavailableError
from agentchat.gateway import GatewayConfig, create_app
from agentchat.settings import Settings

__all__ = ["GatewayServer"]

# The logger the drain has always logged under (moved here from the command line).
log = logging.getLogger("agentchat.cli")


class _Uvicorn(uvicorn.Server):
    """uvicorn, draining the gateway on its first signal."""

    def __init__(self, config: uvicorn.Config, gateway: Any) -> None:
        super().__init__(config)
        self.gateway = gateway
        self.owns_signals = True

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if not self.owns_signals:  # served beside other work, whose owner handles them
            yield
            return
        with super().capture_signals():
            yield

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # uvicorn's own handler would re-raise the signal once done, so a clean drain would
        # still exit as "killed"; this one drains and exits 0, and a second signal forces.
        if self.should_exit:
            self.force_exit = True
            return
        self.gateway.draining = True
        AppStatus.should_exit = True  # sse-starlette ends every open stream
        self.should_exit = True
        log.info("gateway draining: ending open streams so their clients move elsewhere")

    async def shutdown(self, sockets: Any = None) -> None:
        # WebSocket sessions first: each tells its client to resume (with the last id it was
        # handed) and closes with 1012, before uvicorn closes the rest without a word.
        with contextlib.suppress(TimeoutError):
            await self.gateway.drain_sessions(within=2.0)
        await super().shutdown(sockets)


class GatewayServer:
    """The gateway app on `host`:`port`.

    Either `serve()` it as the process's server (it handles SIGINT and SIGTERM), or `start()`
    it beside other work and `stop()` it when that ends.

    Raises:
        ConfigurationError: The gateway is open (no API keys) and `host` is not a loopback
            address. `serve()` and `start()` raise it when no chat store is configured
            (`AGENTCHAT_DATABASE_URL`) or its URL is not one the store takes.
    """

    def __init__(
        self,
        settings: Settings,
        config: GatewayConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
    ) -> None:
        config = config or GatewayConfig()
        config.check_host(host)
        app = create_app(settings, config)
        self.port = port
        self._server = _Uvicorn(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level="warning",
                log_config=None,  # uvicorn's lines go through our handler (JSON when asked)
                lifespan="off",
                # Open SSE streams end at once on SIGTERM (their clients resume on another
                # replica); this bounds the wait for ordinary requests still in flight.
                timeout_graceful_shutdown=max(1, round(settings.shutdown_grace)),
                proxy_headers=True,
                # WebSocket sessions (`ws`): protocol pings keep idle sockets open through
                # proxies and find dead clients; a frame over 4x the body limit is refused by
                # the protocol (1009), one over the limit by the session (an error frame).
                ws_ping_interval=config.ws_ping_seconds,
                ws_ping_timeout=config.ws_ping_seconds,
                ws_max_size=4 * config.max_body_bytes,
            ),
            app.state.gateway,
        )
        self.settings = settings
        self._task: asyncio.Task[None] | None = None

    async def _open_store(self) -> None:
        """Refuse to start without a chat store; open (and migrate) it when it answers."""
        require_database_url(self.settings, "the gateway")
        try:
            await get_store(self.settings, who="the gateway")
        except StoreUnavailableError as exc:
            # Serve anyway: /readyz says "chat store" until the database answers.
            log.warning("gateway: %s", exc)

    async def serve(self) -> None:
        """Serve until SIGINT or SIGTERM, then drain; a second signal stops at once."""
        await self._open_store()
        await self._server.serve()

    async def start(self) -> None:
        """Serve in the background, leaving the process's signals to its owner; returns once
        listening.

        Raises:
            ConfigurationError: The server ended before it listened.
        """
        await self._open_store()
        self._server.owns_signals = False
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started and not self._task.done():  # noqa: ASYNC110 - no event
            await asyncio.sleep(0.02)
        if self._task.done():
            self._task.result()
            raise ConfigurationError(f"the gateway could not listen on :{self.port}")

    async def stop(self) -> None:
        """Drain what `start()` started (ending open SSE streams) and wait until it stops."""
        if self._task is None:
            return
        self._server.handle_exit(signal.SIGTERM, None)
        await self._task
