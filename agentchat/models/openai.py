"""`openai:<model>`: any server speaking OpenAI's chat-completions streaming protocol."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson

from agentchat.errors import ConfigurationError
from agentchat.models._http import (
    TRANSPORT_ERRORS,
    LoopClient,
    aiohttp_client,
    client_options,
    status_failure,
)
from agentchat.models.base import (
    ModelEvent,
    ModelRequest,
    StepFinish,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    _Retryable,
    to_chat_messages,
)

__all__ = ["OpenAIModel"]


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
    file_types = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/*")
    """Files it takes: images (`image_url`), PDFs (`file`), text files (as text)."""

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
        self._options = client_options(self.name, "OpenAI", base_url, api_key, timeout)
        self._openai = openai
        self._clients = LoopClient(
            lambda: openai.AsyncOpenAI(**self._options, http_client=_http_client(openai))
        )

    def _client_on_this_loop(self) -> Any:
        return self._clients.get()

    async def aclose(self) -> None:
        """Close the HTTP connections (the worker calls this when it stops)."""
        await self._clients.aclose()

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        messages: Any = to_chat_messages(request.instructions, request.messages, request.files)
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
            cached_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens"),
            reasoning_tokens=(usage.get("completion_tokens_details") or {}).get("reasoning_tokens"),
        )

    def _failure(self, exc: Exception) -> Exception:
        """What a failed request becomes: a refusal fails the turn, the rest are retried."""
        openai = self._openai
        if isinstance(exc, openai.APIStatusError):
            return status_failure(self.name, exc.status_code, exc.message, exc.response)
        if isinstance(exc, openai.APIConnectionError):
            return _Retryable(f"{self.name} unreachable: {exc}")
        if isinstance(exc, TRANSPORT_ERRORS):  # the SDK wraps errors before the stream only
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
    """The SDK's aiohttp transport when installed (the `openai` extra brings it), else httpx."""
    return aiohttp_client(openai)
