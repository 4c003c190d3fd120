"""Server-Sent Events answers, as the native API and the AI SDK backend both stream them.

One place decides the keepalive comments, the anti-buffering headers and the stream metrics;
the route modules only say which events to send.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Literal

import orjson
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.responses import Response

from agentchat import metrics
from agentchat.gateway.deps import Gateway

__all__ = ["json_event", "sse_doc", "sse_response", "stream_response"]

Api = Literal["native", "aisdk"]
"""Which API a stream serves: the `api` label of its metrics."""


def sse_doc(description: str) -> dict[str, Any]:
    """The OpenAPI answer of a route that streams: `text/event-stream`, described."""
    return {
        "description": description,
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }


def json_event(data: dict[str, Any], event_id: str | None = None) -> ServerSentEvent:
    """An event whose `data:` is `data` as compact JSON, with `id:` when given."""
    return ServerSentEvent(data=orjson.dumps(data).decode(), id=event_id)


def stream_response(
    gateway: Gateway,
    api: Api,
    events: AsyncIterator[ServerSentEvent],
    headers: dict[str, str] | None = None,
) -> Response:
    """An SSE answer: keepalive comments while idle, never cached nor buffered by a proxy."""
    return EventSourceResponse(
        metrics.track_stream(api, events),
        ping=gateway.config.keepalive_seconds,
        ping_message_factory=lambda: ServerSentEvent(comment="keepalive"),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})},
    )


def sse_response(gateway: Gateway, events: AsyncIterator[ServerSentEvent]) -> Response:
    """The native API's SSE answer: a `retry:` hint first, for `EventSource` reconnects."""

    async def with_retry() -> AsyncIterator[ServerSentEvent]:
        yield ServerSentEvent(retry=gateway.config.retry_ms)
        sent = 0
        async for event in events:
            yield event
            sent += 1
            if sent % 32 == 0:
                # A batch read from Redis yields without suspending; let the response notice
                # a client that has gone before it writes the rest into a closed socket.
                await asyncio.sleep(0)

    return stream_response(gateway, "native", with_retry())
