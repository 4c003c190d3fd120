"""The gateway application: its routers, the body limit, CORS, metrics and the page.

The configuration and the `Gateway` every route shares live in `deps` (re-exported here);
this module only assembles: nothing below it imports it.
"""

from __future__ import annotations

import os
from html import escape
from importlib import resources

from fastapi import FastAPI, Request
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentchat import __version__, metrics
from agentchat.errors import ConfigurationError
from agentchat.gateway import agents, aisdk, directory, files, health, native, ws
from agentchat.gateway.deps import Gateway, GatewayConfig
from agentchat.gateway.problems import error_response, install_handlers
from agentchat.settings import Settings

__all__ = ["Gateway", "GatewayConfig", "create_app"]


class Static(StaticFiles):
    """The page's files; scripts always as JavaScript, whatever the platform's MIME table says.

    A browser refuses to run a module script served with another type, and the table Python
    reads (`/etc/mime.types`, or the Windows registry) may map `.js` to `text/plain`.
    """

    def file_response(
        self,
        full_path: os.PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if response.status_code != 304 and str(full_path).endswith((".js", ".mjs")):
            response.headers["content-type"] = "text/javascript; charset=utf-8"
        return response


class BodyLimit:
    """Answer `413` for bodies over the limit, before the route reads them."""

    def __init__(self, app: ASGIApp, limit: int, max_file_bytes: int = 0) -> None:
        self.app = app
        self.limit = limit
        self.max_file_bytes = max_file_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = files.body_limit(scope["path"], self.limit, self.max_file_bytes)
        if limit is None:  # an upload: its route streams it and enforces the file's limit
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(scope, receive, send, limit)
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
            if size > limit:
                await self._too_large(scope, receive, send, limit)
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

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = error_response(413, "RequestTooLargeError", f"request body over {limit} bytes")
        await response(scope, receive, send)


def create_app(settings: Settings | None = None, config: GatewayConfig | None = None) -> FastAPI:
    """Build the gateway's ASGI app (serve it with uvicorn, or `agentchat gateway`)."""
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
    app.include_router(directory.router)
    app.include_router(agents.router)
    app.include_router(aisdk.router)
    app.include_router(files.router)
    app.include_router(ws.tokens)
    app.include_router(ws.router)
    static = resources.files("agentchat.gateway").joinpath("static")
    app.mount("/static", Static(directory=str(static)), name="static")

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
    app.add_middleware(
        BodyLimit,
        limit=gateway.config.max_body_bytes,
        max_file_bytes=gateway.settings.max_file_bytes,
    )
    if gateway.config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(gateway.config.cors_origins),
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["authorization", "content-type", "last-event-id", "x-api-key"],
            allow_credentials=True,
        )
    return app
