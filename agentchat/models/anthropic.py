"""`anthropic:<model>`: Anthropic's Messages API, streamed through the official `anthropic` SDK."""

from __future__ import annotations

from base64 import b64encode
from collections.abc import AsyncIterator, Callable, Mapping
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
    IMAGE_TYPES,
    ModelEvent,
    ModelRequest,
    ModelRequestError,
    ReasoningDelta,
    ReasoningEnd,
    StepFinish,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolDefinition,
    _is_tool_part,
    _Retryable,
    _tool_result_text,
    file_bytes,
    file_note,
    file_text,
)
from agentchat.protocol.files import is_file_part
from agentchat.protocol.messages import UIMessage

__all__ = ["AnthropicModel", "to_anthropic_messages"]

DEFAULT_MAX_TOKENS = 8192
"""Output tokens a step may take unless told: what every Claude model since 3.5 can give."""

_SMALL_OUTPUT = ("claude-3-haiku", "claude-3-opus", "claude-3-sonnet")
"""Models whose output stops at 4,096 tokens (Anthropic refuses a larger `max_tokens`)."""

_CACHE = {"type": "ephemeral"}

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool-calls",
    "refusal": "content-filter",
}

_REFUSALS = {
    "invalid_request_error",
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
}
"""Error types of an `error` event that a retry would meet again; the rest are retried."""


class AnthropicModel:
    """Streams from the official `anthropic` SDK with its own retries off (Temporal retries).

    The settled transcript is cached at Anthropic between steps: the system prompt (or, without
    one, the tools) and the last two user messages of every request carry a cache breakpoint,
    so a step reads what the step before it wrote.

    Args:
        model: The provider's model name, e.g. `claude-sonnet-4-5`.
        base_url: Defaults to `ANTHROPIC_BASE_URL`, then Anthropic's API.
        api_key: Defaults to `ANTHROPIC_API_KEY`; a placeholder is used for local servers
            that need none, when `base_url` is set.
        max_tokens: Output tokens a step may take, thinking included (Anthropic requires a
            bound). Defaults to 8,192 (4,096 for Claude 3 models), plus the thinking budget.
        thinking_budget: Turn on extended thinking with this many tokens to think in (at
            least 1,024). The thinking streams as `reasoning-*` chunks and is kept, with its
            signature, in the transcript, so later steps send it back as Anthropic requires.
        timeout: Seconds each phase of a request may take: connecting, and each read of the
            stream (a model silent that long mid-answer fails the step, which is retried).
    """

    prefetchable = True
    """Its streams may be read on from another task: the SDK's transports time each read."""
    file_types = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/*")
    """Files it takes: images (`image` blocks), PDFs and plain text (`document` blocks)."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        max_tokens: int | None = None,
        thinking_budget: int | None = None,
        timeout: float = 600.0,
    ) -> None:
        try:
            import anthropic
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ConfigurationError(
                "model 'anthropic:...' needs the anthropic extra:"
                " pip install 'agentchat[anthropic]'"
            ) from exc
        self.name = f"anthropic:{model}"
        self.model = model
        self._options = client_options(self.name, "Anthropic", base_url, api_key, timeout)
        if max_tokens is None:
            small = model.startswith(_SMALL_OUTPUT)
            max_tokens = (4096 if small else DEFAULT_MAX_TOKENS) + (thinking_budget or 0)
        elif thinking_budget is not None and max_tokens <= thinking_budget:
            raise ConfigurationError(
                f"model {self.name!r}: max_tokens ({max_tokens}) must exceed thinking_budget"
                f" ({thinking_budget}): the answer comes out of what thinking leaves"
            )
        self.max_tokens = max_tokens
        self.thinking_budget = thinking_budget
        self._anthropic = anthropic
        self._clients = LoopClient(
            lambda: anthropic.AsyncAnthropic(**self._options, http_client=aiohttp_client(anthropic))
        )

    def _client_on_this_loop(self) -> Any:
        return self._clients.get()

    async def aclose(self) -> None:
        """Close the HTTP connections (the worker calls this when it stops)."""
        await self._clients.aclose()

    def request_body(self, request: ModelRequest) -> dict[str, Any]:
        """The request's conversation, system prompt, tools and thinking, in wire form."""
        body: dict[str, Any] = {"messages": to_anthropic_messages(request.messages, request.files)}
        tools = [_tool(t) for t in request.tools]
        if request.instructions:
            body["system"] = [
                {"type": "text", "text": request.instructions, "cache_control": _CACHE}
            ]
        elif tools:  # tools come first in the cached prefix: the system prompt's mark covers them
            tools[-1]["cache_control"] = _CACHE
        if tools:
            body["tools"] = tools
        if self.thinking_budget is not None:
            body["thinking"] = {"type": "enabled", "budget_tokens": self.thinking_budget}
        return body

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        body = self.request_body(request)
        message = _MessageStream()
        try:
            # As for OpenAI (see OpenAIModel.stream): the SDK sends and checks the request,
            # while the conversation, already in wire form, travels in `extra_body`, past the
            # SDK's type-driven walk, and the events are read as JSON, not pydantic models.
            async with self._client_on_this_loop().messages.with_streaming_response.create(
                model=self.model,
                max_tokens=self.max_tokens,
                messages=[],
                stream=True,
                extra_body=body,
            ) as response:
                async for data in _sse_data(response.iter_bytes()):
                    for event in message.feed(_loads(data)):
                        yield event
                    if message.stopped:
                        break
        except Exception as exc:
            raise self._failure(exc) from None
        if not message.stopped:
            raise _Retryable(f"{self.name} stream ended before message_stop")
        for call in message.calls:
            yield call
        yield message.finish()

    def _failure(self, exc: Exception) -> Exception:
        """What a failed request becomes: a refusal fails the turn, the rest are retried."""
        anthropic = self._anthropic
        if isinstance(exc, anthropic.APIStatusError):
            return status_failure(self.name, exc.status_code, exc.message, exc.response)
        if isinstance(exc, anthropic.APIConnectionError):
            return _Retryable(f"{self.name} unreachable: {exc}")
        if isinstance(exc, TRANSPORT_ERRORS):  # the SDK wraps errors before the stream only
            return _Retryable(f"{self.name} stream broke off: {exc}")
        if isinstance(exc, _MidStreamError):
            if exc.kind in _REFUSALS:
                return ModelRequestError(f"{self.name} refused the request mid-stream: {exc}")
            return _Retryable(f"{self.name} failed mid-stream: {exc}")
        return exc


async def _sse_data(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The `data:` fields of a server-sent event stream, one per line, as raw bytes.

    Split here rather than by the HTTP library's text line iterator, which decodes and
    re-splits every chunk in Python: what matters per event of a long answer. Any of SSE's
    line ends is one (CR LF split across two chunks leaves an empty line, which is no field).
    """
    rest = b""
    async for chunk in chunks:
        lines = (rest + chunk).splitlines(keepends=True) if rest else chunk.splitlines(True)
        rest = b""
        if lines and not lines[-1].endswith((b"\n", b"\r")):
            rest = lines.pop()
        for line in lines:
            if line.startswith(b"data:"):
                yield line[5:]
    if rest.startswith(b"data:"):
        yield rest[5:]


def _loads(data: bytes) -> Any:
    """One event's JSON; text that is not UTF-8 reads as the text line iterator read it."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return orjson.loads(data.decode("utf-8", errors="replace"))


class _MidStreamError(Exception):
    """An `error` event in a stream that had begun (Anthropic sends `overloaded_error` so)."""

    def __init__(self, error: dict[str, Any]) -> None:
        self.kind = str(error.get("type", "error"))
        super().__init__(f"{self.kind}: {error.get('message', '')}")


class _MessageStream:
    """The events of one streamed message -> model events, its tool calls and its usage."""

    def __init__(self) -> None:
        self.calls: list[ToolCall] = []
        self.stopped = False
        self._blocks: dict[int, dict[str, Any]] = {}
        self._usage: dict[str, Any] = {}
        self._stop_reason: str | None = None
        self._handlers: dict[str, Callable[[dict[str, Any]], list[ModelEvent]]] = {
            "content_block_delta": self._delta,
            "content_block_start": self._start,
            "content_block_stop": self._stop,
            "message_start": self._message_start,
            "message_delta": self._message_delta,
            "message_stop": self._message_stop,
            "error": self._error,
        }

    def feed(self, event: dict[str, Any]) -> list[ModelEvent]:
        """The model events one server event makes (`ping` and unknown events make none)."""
        handler = self._handlers.get(event.get("type", ""))
        return handler(event) if handler is not None else []

    def finish(self) -> StepFinish:
        usage = self._usage
        uncached = usage.get("input_tokens")
        read = usage.get("cache_read_input_tokens")
        written = usage.get("cache_creation_input_tokens")
        return StepFinish(
            _FINISH.get(self._stop_reason or "end_turn", "other"),
            input_tokens=None if uncached is None else uncached + (read or 0) + (written or 0),
            output_tokens=usage.get("output_tokens"),
            cached_tokens=read,
            reasoning_tokens=(usage.get("output_tokens_details") or {}).get("thinking_tokens"),
        )

    def _delta(self, event: dict[str, Any]) -> list[ModelEvent]:
        delta = event.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            return [TextDelta(delta.get("text", ""))]
        if kind == "thinking_delta":
            return [ReasoningDelta(delta.get("thinking", ""))]
        block = self._blocks.get(event.get("index", 0))
        if block is None:
            return []
        if kind == "signature_delta":
            block["signature"] = block.get("signature", "") + delta.get("signature", "")
        elif kind == "input_json_delta" and delta.get("partial_json"):
            block["arguments"].append(delta["partial_json"])
            return [ToolCallDelta(block["id"], delta["partial_json"])]
        return []

    def _start(self, event: dict[str, Any]) -> list[ModelEvent]:
        block = dict(event.get("content_block") or {})
        self._blocks[event.get("index", 0)] = block
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return [TextDelta(block["text"])]
        if kind == "thinking" and block.get("thinking"):
            return [ReasoningDelta(block["thinking"])]
        if kind == "tool_use":
            block["arguments"] = []
            return [ToolCallStart(block["id"], block["name"])]
        return []

    def _stop(self, event: dict[str, Any]) -> list[ModelEvent]:
        block = self._blocks.pop(event.get("index", 0), None) or {}
        kind = block.get("type")
        if kind == "thinking":
            signature = block.get("signature")
            return [ReasoningEnd({"anthropic": {"signature": signature}} if signature else None)]
        if kind == "redacted_thinking":
            return [ReasoningEnd({"anthropic": {"redactedData": block.get("data", "")}})]
        if kind == "tool_use":
            arguments = "".join(block["arguments"])
            if not arguments:  # a call without input deltas: its input came whole
                arguments = orjson.dumps(block.get("input") or {}).decode()
            self.calls.append(ToolCall(block["id"], block["name"], arguments))
        return []

    def _message_start(self, event: dict[str, Any]) -> list[ModelEvent]:
        self._usage = dict((event.get("message") or {}).get("usage") or {})
        return []

    def _message_delta(self, event: dict[str, Any]) -> list[ModelEvent]:
        self._stop_reason = (event.get("delta") or {}).get("stop_reason") or self._stop_reason
        # Its counts are cumulative: they replace message_start's, where given.
        self._usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
        return []

    def _message_stop(self, event: dict[str, Any]) -> list[ModelEvent]:
        self.stopped = True
        return []

    def _error(self, event: dict[str, Any]) -> list[ModelEvent]:
        raise _MidStreamError(event.get("error") or {})


def _tool(tool: ToolDefinition) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}


def to_anthropic_messages(
    transcript: list[UIMessage], files: Mapping[str, bytes] | None = None
) -> list[dict[str, Any]]:
    """UIMessages -> Anthropic's `messages` (the system prompt travels apart).

    A user message's files come before its text (as Anthropic advises), given their bytes by
    ref in `files`: images as `image` blocks, PDFs and plain text as `document` blocks (base64
    and text sources); a file without bytes there, or of another type, is named in a text
    block.

    An assistant message holds a whole turn; each step of it (from one `step-start` to the
    next) becomes an assistant message of its thinking, text and `tool_use` blocks, followed by
    a user message of the calls' `tool_result`s. A steer (`data-steer`) becomes user text.
    Reasoning goes back only as the provider signed it (a thinking block with its signature, or
    a redacted one); messages of one role in a row are merged, as Anthropic requires
    alternation. The last two user messages carry cache breakpoints: the first is where the
    previous step's request ended (a cache read), the last where the next one will read.
    """
    out: list[dict[str, Any]] = []
    for message in transcript:
        if message.role == "assistant":
            _add_turn(out, message.parts)
            continue
        text = "".join(str(p.get("text", "")) for p in message.parts if p.get("type") == "text")
        attached = [_file_block(p, files) for p in message.parts if is_file_part(p)]
        if attached:
            _append(out, "user", attached)
        if text.strip():
            _append(out, "user", [{"type": "text", "text": text}])
    if out and out[-1]["role"] == "assistant":  # a prefill must not end in whitespace
        last = out[-1]["content"][-1]
        if last.get("type") == "text":
            last["text"] = last["text"].rstrip() or "..."
    marked = 0
    for message in reversed(out):
        if marked == 2:
            break
        if message["role"] == "user":
            message["content"][-1]["cache_control"] = _CACHE
            marked += 1
    return out


def _add_turn(out: list[dict[str, Any]], parts: list[dict[str, Any]]) -> None:
    blocks: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for part in parts:
        kind = part.get("type")
        if kind == "text":
            if results:  # text after a step's calls, with no step-start between (tolerated)
                _flush(out, blocks, results)
            if str(part.get("text", "")).strip():
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "reasoning":
            thinking = _thinking_block(part)
            if thinking is not None:
                blocks.append(thinking)
        elif _is_tool_part(part):
            blocks.append(_tool_use(part))
            results.append(_tool_result(part))
        elif kind == "step-start":
            _flush(out, blocks, results)
        elif kind == "data-steer":
            _flush(out, blocks, results)
            text = str((part.get("data") or {}).get("text", ""))
            if text.strip():
                _append(out, "user", [{"type": "text", "text": text}])
    _flush(out, blocks, results)


def _thinking_block(part: dict[str, Any]) -> dict[str, Any] | None:
    """The thinking block a reasoning part was, or None when no signature vouches for it."""
    metadata = (part.get("providerMetadata") or {}).get("anthropic") or {}
    if metadata.get("signature"):
        text = str(part.get("text", ""))
        return {"type": "thinking", "thinking": text, "signature": metadata["signature"]}
    if metadata.get("redactedData"):
        return {"type": "redacted_thinking", "data": metadata["redactedData"]}
    return None  # another provider's reasoning, or one stopped before its signature came


def _tool_use(part: dict[str, Any]) -> dict[str, Any]:
    arguments = part.get("input")
    return {
        "type": "tool_use",
        "id": part["toolCallId"],
        "name": part.get("toolName") or str(part["type"])[5:],
        # Input the model got wrong (kept as its text) still has to be an object here.
        "input": arguments if isinstance(arguments, dict) else {},
    }


def _tool_result(part: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": part["toolCallId"],
        "content": _tool_result_text(part),
    }
    if part.get("state") not in ("output-available", "output-denied"):
        result["is_error"] = True
    return result


def _flush(
    out: list[dict[str, Any]], blocks: list[dict[str, Any]], results: list[dict[str, Any]]
) -> None:
    if not blocks and not results:  # a step's opening: nothing of it yet (twice a turn)
        return
    if any(b["type"] in ("text", "tool_use") for b in blocks):
        _append(out, "assistant", list(blocks))
    if results:
        _append(out, "user", list(results))
    blocks.clear()
    results.clear()


def _append(out: list[dict[str, Any]], role: str, content: list[dict[str, Any]]) -> None:
    if out and out[-1]["role"] == role:
        out[-1]["content"].extend(content)
    else:
        out.append({"role": role, "content": content})


def _file_block(part: dict[str, Any], files: Mapping[str, bytes] | None) -> dict[str, Any]:
    """A file part as Anthropic takes it."""
    media_type = str(part.get("mediaType", ""))
    data = file_bytes(part, files)
    if data is None:
        why = "attached" if files is None else "not available to the model"
        return {"type": "text", "text": file_note(part, why)}
    if media_type in IMAGE_TYPES or media_type == "application/pdf":
        source = {"type": "base64", "media_type": media_type, "data": b64encode(data).decode()}
        kind = "image" if media_type in IMAGE_TYPES else "document"
        return {"type": kind, "source": source}
    if media_type == "text/plain":
        text = data.decode("utf-8", errors="replace")
        block: dict[str, Any] = {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": text},
        }
        if part.get("filename"):
            block["title"] = part["filename"]
        return block
    if media_type.startswith("text/"):
        return {"type": "text", "text": file_text(part, data)}
    return {"type": "text", "text": file_note(part, "a type this model does not take")}
