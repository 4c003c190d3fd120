"""`openai:<model>`: any server speaking OpenAI's chat-completions streaming protocol."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson

from agentchat.errors import ConfigurationError
from agentchat.models.base import (
    ModelEvent,
    ModelRequest,
    ModelRequestError,
    StepFinish,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    _Retryable,
    to_chat_messages,
)

__all__ = ["OpenAIModel"]


def _transport_errors() -> tuple[type[Exception], ...]:
    # Mid-stream, the SDK lets its HTTP library's errors through unwrapped: httpx2 from
    # openai 3, httpx before, and aiohttp's where an older adapter does not map them.
    errors: list[type[Exception]] = []
    for name, error in (
        ("httpx2", "TransportError"),
        ("httpx", "TransportError"),
        ("aiohttp", "ClientError"),
    ):
        with contextlib.suppress(ImportError):
            errors.append(getattr(importlib.import_module(name), error))
    return tuple(errors)


_TRANSPORT_ERRORS = _transport_errors()

_FINISH = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content-filter",
    "tool_calls": "tool-calls",
    "function_call": "tool-calls",
}


class OpenAIModel:
    """Streams from the official `openai` SDK with its own retries off (Temporal retries).

    Args:
        model: The provider's model name.
        base_url: Defaults to `OPENAI_BASE_URL`, then OpenAI's API.
        api_key: Defaults to `OPENAI_API_KEY`; a placeholder is used for local servers
            that need none, when `base_url` is set.
        timeout: Seconds each phase of a request may take: connecting, and each read of the
            stream (a model silent that long mid-answer fails the step, which is retried).
    """

    prefetchable = True
    """Its streams may be read on from another task: the SDK's transports time each read."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 600.0,
    ) -> None:
        try:
            import openai
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ConfigurationError(
                "model 'openai:...' needs the openai extra: pip install 'agentchat[openai]'"
            ) from exc
        self.name = f"openai:{model}"
        self.model = model
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
        if api_key is None:
            if base_url is None:
                raise ConfigurationError(
                    f"model {self.name!r}: set OPENAI_API_KEY (or OPENAI_BASE_URL for a local"
                    " OpenAI-compatible server)"
                )
            api_key = "unused"
        self._openai = openai
        self._options: dict[str, Any] = {
            "api_key": api_key,
            "base_url": base_url,
            "max_retries": 0,
            "timeout": timeout,
        }
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client_on_this_loop(self) -> Any:
        # An aiohttp session belongs to the event loop it was opened on.
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = self._openai.AsyncOpenAI(
                **self._options, http_client=_http_client(self._openai)
            )
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP connections (the worker calls this when it stops)."""
        client, loop, self._client, self._loop = self._client, self._loop, None, None
        if client is not None and loop is asyncio.get_running_loop():
            await client.close()  # on another loop its connections went with that loop

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        messages: Any = to_chat_messages(request.instructions, request.messages)
        finish = "stop"
        usage: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        if request.tools:
            extra["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in request.tools
            ]
        calls = _ToolCallFragments()
        try:
            # The SDK sends and checks the request; its per-chunk pydantic models cost more CPU
            # than everything else a streaming step does (profiled: ~40% of a busy worker), so
            # the chunks themselves are read as JSON. The conversation and tools, already in
            # wire form, go in `extra_body`: the SDK's type-driven walk over `messages` took
            # ~60% of a worker's CPU on a 400-message chat and grows with every turn.
            async with self._client_on_this_loop().chat.completions.with_streaming_response.create(
                model=self.model,
                messages=[],
                stream=True,
                stream_options={"include_usage": True},
                extra_body={"messages": messages, **extra},
            ) as response:
                async for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    event = orjson.loads(data)
                    if event.get("error"):
                        raise _Retryable(f"{self.name} failed mid-stream: {event['error']}")
                    usage = event.get("usage") or usage
                    for choice in event.get("choices") or ():
                        delta = choice.get("delta") or {}
                        content = delta.get("content")
                        if content:
                            yield TextDelta(content)
                        for call in delta.get("tool_calls") or ():
                            for fragment in calls.feed(call):
                                yield fragment
                        if choice.get("finish_reason"):
                            finish = _FINISH.get(choice["finish_reason"], "other")
        except Exception as exc:
            raise self._failure(exc) from None
        for call_id, name, arguments in calls.complete():
            yield ToolCall(call_id, name, arguments)
        yield StepFinish(
            finish,
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
        )

    def _failure(self, exc: Exception) -> Exception:
        """What a failed request becomes: a refusal fails the turn, the rest are retried."""
        openai = self._openai
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if 400 <= status < 500 and status not in (408, 409, 429):
                return ModelRequestError(
                    f"{self.name} refused the request ({status}): {exc.message}",
                    status_code=status,
                )
            return _Retryable(
                f"{self.name} failed ({status}): {exc.message}", _retry_after(exc.response)
            )
        if isinstance(exc, openai.APIConnectionError):
            return _Retryable(f"{self.name} unreachable: {exc}")
        if isinstance(exc, _TRANSPORT_ERRORS):  # the SDK wraps errors before the stream only
            return _Retryable(f"{self.name} stream broke off: {exc}")
        return exc


class _ToolCallFragments:
    """Tool calls stream as fragments keyed by index: id and name first, then arguments."""

    def __init__(self) -> None:
        self._calls: dict[int, list[str]] = {}

    def feed(self, call: dict[str, Any]) -> list[ModelEvent]:
        """The events one fragment makes: the call's start the first time, then its text."""
        events: list[ModelEvent] = []
        function = call.get("function") or {}
        index = call.get("index", 0)
        slot = self._calls.get(index)
        if slot is None:
            slot = self._calls[index] = [
                call.get("id") or f"call_{uuid.uuid4().hex[:16]}",
                function.get("name") or "",
                "",
            ]
            events.append(ToolCallStart(slot[0], slot[1]))
        arguments = function.get("arguments")
        if arguments:
            slot[2] += arguments
            events.append(ToolCallDelta(slot[0], arguments))
        return events

    def complete(self) -> list[tuple[str, str, str]]:
        """(id, name, arguments) of every call, in the order the model began them."""
        return [(slot[0], slot[1], slot[2]) for slot in self._calls.values()]


def _http_client(openai: Any) -> Any:
    """The SDK's aiohttp transport when installed (the `openai` extra brings it), else httpx.

    Reading a stream through aiohttp costs half the CPU per token of the default httpx stack
    (measured: 0.07 vs 0.15 s per 1,000 tokens over 140 streams), and a worker reads every
    token of every running step.
    """
    try:
        return openai.DefaultAioHttpClient()
    except (AttributeError, RuntimeError):  # an older SDK, or aiohttp not installed
        return None


def _retry_after(response: Any) -> float | None:
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
