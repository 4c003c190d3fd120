"""The gateway application: configuration, shared connections, limits and the page."""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from agentchat import __version__, metrics
from agentchat.client import AgentChat
from agentchat.connections import get_redis, get_temporal
from agentchat.errors import ConfigurationError
from agentchat.gateway.auth import Auth, Principal
from agentchat.gateway.problems import ApiError, error_response, install_handlers
from agentchat.settings import Settings
from agentchat.stream._store import StreamStore
from agentchat.workflows.chat import workflow_id_for

__all__ = ["Gateway", "GatewayConfig", "create_app"]

log = logging.getLogger("agentchat.gateway")


def _env_list(name: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in os.environ.get(name, "").split(",") if k.strip())


@dataclass(frozen=True)
class GatewayConfig:
    """How the gateway behaves; every field defaults to its environment variable.

    Attributes:
        api_keys: `AGENTCHAT_API_KEYS`, comma-separated. Empty: an open gateway, which only
            listens on loopback addresses.
        token_secret: `AGENTCHAT_TOKEN_SECRET`, the key chat tokens are signed with; derived
            from the API keys when unset.
        default_agent: `AGENTCHAT_GATEWAY_AGENT`, the agent of a new chat that names none.
        cors_origins: `AGENTCHAT_CORS_ORIGINS`, comma-separated browser origins allowed.
        max_body_bytes: Larger request bodies get `413`.
        keepalive_seconds: A comment line on an idle SSE stream this often.
        retry_ms: The `retry:` hint for `EventSource` reconnects.
    """

    api_keys: tuple[str, ...] = field(default_factory=lambda: _env_list("AGENTCHAT_API_KEYS"))
    token_secret: str | None = field(
        default_factory=lambda: os.environ.get("AGENTCHAT_TOKEN_SECRET") or None
    )
    default_agent: str | None = field(
        default_factory=lambda: os.environ.get("AGENTCHAT_GATEWAY_AGENT") or None
    )
    cors_origins: tuple[str, ...] = field(
        default_factory=lambda: _env_list("AGENTCHAT_CORS_ORIGINS")
    )
    max_body_bytes: int = 1024 * 1024
    keepalive_seconds: float = 15.0
    retry_ms: int = 2000
    max_token_ttl: int = 7 * 24 * 3600

    def check_host(self, host: str) -> None:
        """Refuse to serve an open gateway beyond this machine."""
        if self.api_keys:
            return
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ConfigurationError(
                f"refusing to listen on {host} without API keys: set AGENTCHAT_API_KEYS"
                " (comma-separated), or listen on 127.0.0.1"
            )


class Gateway:
    """What every route shares: settings, auth, and per-loop connections."""

    def __init__(self, settings: Settings, config: GatewayConfig) -> None:
        self.settings = settings
        self.config = config
        self.auth = Auth(config.api_keys, config.token_secret)
        self._store: StreamStore | None = None
        self.draining = False
        """Set on SIGTERM. The listener closes at once (health checks then fail to connect);
        requests on connections still open see `/readyz` answer `503`."""

    async def store(self) -> StreamStore:
        redis = await get_redis(self.settings)
        if self._store is None or self._store.redis is not redis:
            self._store = StreamStore(redis)
        return self._store

    def chat(self, chat_id: str, agent: str | None = None, **options: Any) -> AgentChat:
        # Control calls (stop, close, answers) never start a run, so they need no agent name.
        return AgentChat(agent or "-", chat_id, settings=self.settings, **options)

    async def running(self, chat_id: str) -> bool:
        """Whether the chat's workflow run is open (False when it ended or never existed)."""
        client = await get_temporal(self.settings)
        try:
            description = await client.get_workflow_handle(workflow_id_for(chat_id)).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return description.status == WorkflowExecutionStatus.RUNNING

    async def agent_of(self, chat_id: str, requested: str | None, principal: Principal) -> str:
        """The agent a request talks to: named by it, its token, the chat, or the default."""
        principal.check_agent(requested)
        agent = requested or principal.agent
        if agent is None:
            status = await self.chat(chat_id).status()
            agent = status.agent if status is not None else self.config.default_agent
        if agent is None:
            raise ApiError(
                422,
                "InvalidRequestError",
                "name the agent: a new chat needs 'agent' in the body (or ?agent=)",
                ["agent"],
            )
        principal.check_agent(agent)
        return agent


class BodyLimit:
    """Answer `413` for bodies over the limit, before the route reads them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, "RequestTooLargeError", f"request body over {self.limit} bytes"
        )
        await response(scope, receive, send)


def create_app(settings: Settings | None = None, config: GatewayConfig | None = None) -> FastAPI:
    """Build the gateway's ASGI app (serve it with uvicorn, or `agentchat gateway`)."""
    from agentchat.gateway import aisdk, health, native

    gateway = Gateway(settings or Settings(), config or GatewayConfig())
    app = FastAPI(
        title="agentchat gateway",
        version=__version__,
        description="Durable AI chat agents over HTTP: a native API with resumable Server-Sent"
        " Events, and an AI SDK `useChat` backend. See docs/gateway.md.",
    )
    app.state.gateway = gateway
    install_handlers(app)
    app.include_router(native.router)
    app.include_router(aisdk.router)
    static = resources.files("agentchat.gateway").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", include_in_schema=False)
    async def page(request: Request) -> Response:
        html = static.joinpath("index.html").read_text()
        agent = escape(gateway.config.default_agent or "demo", quote=True)
        return HTMLResponse(html.replace('data-agent="demo"', f'data-agent="{agent}"'))

    metrics.enable()  # the gateway exposes them: start counting

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        """Prometheus text format: this process's agentchat, Python and process metrics.

        Unauthenticated, as Prometheus scrapers expect: the series carry counts and agent
        names, never chat ids or content. A gateway facing the internet should keep
        `/metrics` off its public ingress.
        """
        try:
            body, content_type = metrics.render()
        except ConfigurationError as exc:
            return Response(str(exc), status_code=501, media_type="text/plain")
        return Response(body, media_type=content_type)

    app.include_router(health.router)
    app.add_middleware(BodyLimit, limit=gateway.config.max_body_bytes)
    if gateway.config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(gateway.config.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type", "last-event-id", "x-api-key"],
            allow_credentials=True,
        )
    return app
