"""A real HTTP server on loopback that speaks Anthropic's Messages streaming protocol.

It answers `POST /v1/messages` with `stream: true` as the real API does: SSE events
`message_start`, `ping`, `content_block_start` / `content_block_delta` (`text_delta`,
`thinking_delta`, `signature_delta`, `input_json_delta`) / `content_block_stop`,
`message_delta` (stop reason, usage) and `message_stop`, or `error`. Answers are scripted as
blocks (text, thinking, redacted thinking, tool calls) at a controllable time to first token
and token rate. Like the API it checks what it is sent (roles alternate, every `tool_use` has
its `tool_result`, thinking blocks come back with the signature it issued, at most four cache
breakpoints) and answers 400 otherwise; it keeps a prompt cache keyed by the prefix up to each
`cache_control` breakpoint, so usage reports cache writes and reads as Anthropic does. Every
request body is recorded. Failures can be scripted per request.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentchat.testing._loopback import LoopbackServer, Request, directive, words
from agentchat.testing.openai_server import FakeToolCall

__all__ = ["FakeAnthropicServer", "FakeRedactedThinking", "FakeThinking", "FakeToolCall"]


@dataclass(frozen=True)
class FakeThinking:
    """A thinking block the fake model streams; signed by the server unless `signature` is set."""

    text: str
    signature: str | None = None


@dataclass(frozen=True)
class FakeRedactedThinking:
    """A redacted thinking block: only its opaque `data` travels."""

    data: str = "redacted-thinking-data"


Block = str | FakeThinking | FakeRedactedThinking | FakeToolCall
Reply = Callable[[list[dict[str, Any]]], "str | Sequence[str] | Sequence[Block]"]
"""Maps the request's messages to the answer: a string (split into word tokens), a list of
tokens (one text block), or a list of blocks (strings among them are text blocks)."""

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def default_reply(messages: list[dict[str, Any]]) -> str:
    """`Echo: ` and the last user text (or the last tool results, when there is no text)."""
    last: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    content = last.get("content", "")
    if isinstance(content, str):
        return f"Echo: {content}"
    texts = [str(b.get("text", "")) for b in content if b.get("type") == "text"]
    if texts:  # the newest: messages in a row are merged into one
        return f"Echo: {texts[-1]}"
    results = [_result_text(b) for b in content if b.get("type") == "tool_result"]
    return f"Echo: {' '.join(results)}"


@dataclass
class FakeAnthropicServer(LoopbackServer):
    """Start with `await server.start()`; point `ANTHROPIC_BASE_URL` at `server.base_url`.

    Attributes:
        reply: Maps the request's messages to the answer (see `Reply`).
        ttft: Seconds before the first token.
        token_delay: Seconds between tokens (every delta counts as one).
        failures: Queue of HTTP statuses to answer the next requests with, before succeeding
            (529 is Anthropic's `overloaded_error`).
        retry_after: The `retry-after` header sent with each scripted failure, if any.
        stream_errors: Queue of error types (e.g. `overloaded_error`) the next streamed
            answers send as an `error` event halfway through, instead of finishing.
        cut_after: Queue: the next streamed answers break off (connection dropped) after
            this many deltas. Each streamed answer takes one entry.
        requests: Every request body received, in order.
        signatures: Every thinking signature the server issued, in order.
        usage: Every usage the server reported (`message_start`'s, output tokens updated by
            `message_delta`), one per streamed answer, in order.
    """

    reply: Reply = default_reply
    ttft: float = 0.0
    token_delay: float = 0.0
    failures: list[int] = field(default_factory=list)
    retry_after: str | None = None
    stream_errors: list[str] = field(default_factory=list)
    cut_after: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    usage: list[dict[str, Any]] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)
    directives: bool = False
    """Let a user message `tokens=N [rate=R]` ask for N tokens at R per second."""
    validate: bool = True
    """Refuse (400) what the real API refuses among the checks above."""
    record: bool = True
    _cache: set[str] = field(default_factory=set, init=False, repr=False)
    """Keys of the prompt prefixes cached so far."""
    _signed: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    """Signatures issued -> the thinking they sign (and `redacted:<data>` for redacted ones)."""

    @property
    def base_url(self) -> str:
        """What `ANTHROPIC_BASE_URL` takes: the SDK adds `/v1/messages`."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FakeAnthropicServer:
        await super().start()
        return self

    def reset(self) -> None:
        """Back to the defaults, with nothing recorded, cached or signed."""
        self.reply = default_reply
        self.ttft = 0.0
        self.token_delay = 0.0
        self.retry_after = None
        self.failures.clear()
        self.stream_errors.clear()
        self.cut_after.clear()
        self.requests.clear()
        self.usage.clear()
        self.signatures.clear()
        self._cache.clear()
        self._signed.clear()

    # -- HTTP ---------------------------------------------------------------------------------

    async def _handle(self, http: Request, writer: asyncio.StreamWriter) -> bool:
        if http.method != "POST" or http.path.split("?")[0] != "/v1/messages":
            await _error(writer, 404, f"no route {http.method} {http.path}")
            return True
        request = json.loads(http.body)
        if self.record:
            self.requests.append(request)
        if self.failures:
            status = self.failures.pop(0)
            extra = {"retry-after": self.retry_after} if self.retry_after is not None else {}
            await _error(writer, status, f"scripted failure {status}", extra)
            return True
        problem = _problem(request, self._signed) if self.validate else None
        if problem is None and not request.get("stream"):
            problem = "FakeAnthropicServer streams only: send stream=true"
        if problem is not None:
            await _error(writer, 400, problem)
            return True
        return await self._stream(writer, request)

    async def _stream(self, writer: asyncio.StreamWriter, request: dict[str, Any]) -> bool:
        blocks, token_delay = self._answer(request)
        usage = {"output_tokens": 1, **self._cache_usage(request)}
        self.usage.append(usage)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
            b"cache-control: no-cache\r\nrequest-id: req_fake\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        message = {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": request.get("model", "fake"),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": dict(usage),
        }
        await _event(writer, "message_start", {"message": message})
        await _event(writer, "ping", {})
        if self.ttft:
            await asyncio.sleep(self.ttft)
        pacer = _Pacer(
            token_delay,
            self.cut_after.pop(0) if self.cut_after else None,
            self.stream_errors.pop(0) if self.stream_errors else None,
            sum(len(_deltas(b)) for b in blocks),
        )
        thinking_tokens = 0
        for index, block in enumerate(blocks):
            if not await self._block(writer, index, block, pacer):
                return pacer.error is not None  # an error event ends the answer, not the line
            if isinstance(block, FakeThinking):
                thinking_tokens += len(_deltas(block))
        if pacer.error is not None:  # an answer too short to break off halfway
            await pacer.fail(writer)
            return True
        output = max(1, pacer.sent)
        delta_usage: dict[str, Any] = {"output_tokens": output}
        if thinking_tokens:
            delta_usage["output_tokens_details"] = {"thinking_tokens": thinking_tokens}
        usage.update(delta_usage)
        stop = "tool_use" if any(isinstance(b, FakeToolCall) for b in blocks) else "end_turn"
        await _event(
            writer,
            "message_delta",
            {"delta": {"stop_reason": stop, "stop_sequence": None}, "usage": delta_usage},
        )
        await _event(writer, "message_stop", {})
        await LoopbackServer._end(writer)
        return True

    async def _block(
        self, writer: asyncio.StreamWriter, index: int, block: _Block, pacer: _Pacer
    ) -> bool:
        """Stream one content block; False when the answer ended in it (cut or error)."""
        start: dict[str, Any]
        if isinstance(block, FakeThinking):
            start = {"type": "thinking", "thinking": "", "signature": ""}
        elif isinstance(block, FakeRedactedThinking):
            self._signed[f"redacted:{block.data}"] = block.data
            start = {"type": "redacted_thinking", "data": block.data}
        elif isinstance(block, FakeToolCall):
            call_id = block.id or f"toolu_{len(self.requests)}_{index}"
            start = {"type": "tool_use", "id": call_id, "name": block.name, "input": {}}
        else:
            start = {"type": "text", "text": ""}
        await _event(writer, "content_block_start", {"index": index, "content_block": start})
        for delta in _deltas(block):
            if not await pacer.next(writer):
                return False
            await _event(writer, "content_block_delta", {"index": index, "delta": delta})
        if isinstance(block, FakeThinking):
            signature = block.signature or _sign(block.text)
            self._signed[signature] = block.text
            self.signatures.append(signature)
            delta = {"type": "signature_delta", "signature": signature}
            await _event(writer, "content_block_delta", {"index": index, "delta": delta})
        await _event(writer, "content_block_stop", {"index": index})
        return True

    def _answer(self, request: dict[str, Any]) -> tuple[list[_Block], float]:
        messages = request.get("messages", [])
        directive = _directive(messages) if self.directives else None
        if directive is not None:
            count, rate = directive
            return [_Text([f"w{i} " for i in range(count)])], 1.0 / rate if rate else 0.0
        answer = self.reply(messages)
        if isinstance(answer, str):
            return [_Text(words(answer))], self.token_delay
        if all(isinstance(a, str) for a in answer):  # the tokens of one text block
            return [_Text([str(a) for a in answer])], self.token_delay
        blocks = [_Text(words(a)) if isinstance(a, str) else a for a in answer]
        return blocks, self.token_delay

    def _cache_usage(self, request: dict[str, Any]) -> dict[str, int]:
        """Input usage as Anthropic counts it: prefixes up to a breakpoint are cached."""
        blocks, marks = _prompt_blocks(request)
        sizes = list(_running_sizes(blocks))
        total = sizes[-1] if sizes else 0
        read = 0
        written = 0
        for mark in marks:
            key = _digest(blocks[: mark + 1])
            if key in self._cache:
                read = max(read, sizes[mark])
            else:
                self._cache.add(key)
        if marks:
            written = max(0, sizes[marks[-1]] - read)
        return {
            "input_tokens": max(1, total - read - written),
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": read,
        }


@dataclass(frozen=True)
class _Text:
    """A text block as the tokens it streams, one delta each."""

    tokens: list[str]


_Block = _Text | FakeThinking | FakeRedactedThinking | FakeToolCall


class _Pacer:
    """Paces the deltas of an answer, and cuts it or ends it with an error where scripted."""

    def __init__(self, delay: float, cut: int | None, error: str | None, total: int) -> None:
        self.delay = delay
        self.cut = cut
        self.error = error
        self.error_at = total // 2 if error is not None else None
        self.sent = 0
        self.started = asyncio.get_running_loop().time()

    async def next(self, writer: asyncio.StreamWriter) -> bool:
        """Wait for the next delta's time; False (the answer is over) at a cut or an error."""
        if self.sent == self.cut:
            await writer.drain()
            writer.transport.abort()
            return False
        if self.sent == self.error_at:
            await self.fail(writer)
            return False
        if self.sent and self.delay:
            # Paced against the start, not the previous delta: no drift under load.
            now = asyncio.get_running_loop().time()
            await asyncio.sleep(max(0.0, self.started + self.sent * self.delay - now))
        self.sent += 1
        return True

    async def fail(self, writer: asyncio.StreamWriter) -> None:
        """Send the scripted `error` event, which ends the answer (the response is complete)."""
        message = "Overloaded" if self.error == "overloaded_error" else "scripted error"
        await _event(writer, "error", {"error": {"type": self.error, "message": message}})
        await LoopbackServer._end(writer)


def _deltas(block: _Block) -> list[dict[str, Any]]:
    if isinstance(block, FakeThinking):
        return [{"type": "thinking_delta", "thinking": t} for t in words(block.text)]
    if isinstance(block, FakeRedactedThinking):
        return []
    if isinstance(block, FakeToolCall):
        half = len(block.arguments) // 2
        pieces = [p for p in (block.arguments[:half], block.arguments[half:]) if p]
        return [{"type": "input_json_delta", "partial_json": p} for p in pieces]
    return [{"type": "text_delta", "text": t} for t in block.tokens if t]


def _sign(text: str) -> str:
    return "sig-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def _problem(request: dict[str, Any], signed: dict[str, str]) -> str | None:
    """What the real API would refuse in this request (a subset of its checks), or None."""
    if not isinstance(request.get("max_tokens"), int):
        return "max_tokens: Field required"
    thinking = request.get("thinking") or {}
    if thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens", 0)
        if budget < 1024 or budget >= request["max_tokens"]:
            return "thinking.budget_tokens: must be >= 1024 and less than max_tokens"
    messages = request.get("messages") or []
    if not messages or messages[0].get("role") != "user":
        return "messages: the first message must use the user role"
    marks = len(_prompt_blocks(request)[1])
    if marks > 4:
        return f"A maximum of 4 blocks with cache_control may be provided. Found {marks}."
    for i, message in enumerate(messages):
        if i and message.get("role") == messages[i - 1].get("role"):
            return f"messages.{i}: roles must alternate between user and assistant"
        problem = _message_problem(i, message, messages[i + 1 : i + 2], signed)
        if problem is not None:
            return problem
    if thinking.get("type") == "enabled":
        return _thinking_problem(messages)
    return None


def _message_problem(
    i: int, message: dict[str, Any], following: list[dict[str, Any]], signed: dict[str, str]
) -> str | None:
    content = message.get("content")
    if isinstance(content, str):
        return None if content else f"messages.{i}: content must be non-empty"
    for j, block in enumerate(content or []):
        kind = block.get("type")
        if kind == "text" and not str(block.get("text", "")).strip():
            return f"messages.{i}.content.{j}: text content blocks must contain non-whitespace text"
        if kind == "thinking" and signed.get(block.get("signature", "")) != block.get("thinking"):
            return f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
        if kind == "redacted_thinking" and f"redacted:{block.get('data')}" not in signed:
            return f"messages.{i}.content.{j}: Invalid `data` in `redacted_thinking` block"
        if kind in ("thinking", "redacted_thinking") and block.get("cache_control"):
            return f"messages.{i}.content.{j}: thinking blocks cannot take cache_control"
    uses = [b["id"] for b in content or [] if b.get("type") == "tool_use"]
    if uses:
        replies = [m.get("content") for m in following]
        answered = [
            b.get("tool_use_id")
            for reply in replies
            if isinstance(reply, list)
            for b in reply
            if b.get("type") == "tool_result"
        ]
        missing = [u for u in uses if u not in answered]
        if missing:
            return (
                f"messages.{i}: `tool_use` ids were found without `tool_result` blocks"
                f" immediately after: {', '.join(missing)}"
            )
    return None


def _thinking_problem(messages: list[dict[str, Any]]) -> str | None:
    """With thinking on, the assistant message a tool loop continues must open with thinking."""
    for i in range(len(messages) - 2, -1, -1):
        message = messages[i]
        if message.get("role") != "assistant":
            continue
        content = message.get("content")
        if not isinstance(content, list) or not any(b.get("type") == "tool_use" for b in content):
            return None
        if content[0].get("type") not in ("thinking", "redacted_thinking"):
            return (
                f"messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but"
                f" found `{content[0].get('type')}`. When `thinking` is enabled, a final"
                " `assistant` message must start with a thinking block"
            )
        return None
    return None


def _prompt_blocks(request: dict[str, Any]) -> tuple[list[Any], list[int]]:
    """The prompt as Anthropic caches it (tools, system, messages: one item a block), without
    the `cache_control` marks, and the positions of the marked blocks."""
    items: list[Any] = []
    marks: list[int] = []

    def add(role: str, block: Any) -> None:
        if isinstance(block, dict) and block.get("cache_control"):
            marks.append(len(items))
            block = {k: v for k, v in block.items() if k != "cache_control"}
        items.append([role, block])

    for tool in request.get("tools") or []:
        add("tool", tool)
    system = request.get("system")
    for block in [{"type": "text", "text": system}] if isinstance(system, str) else system or []:
        add("system", block)
    for message in request.get("messages") or []:
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for block in blocks or []:
            add(str(message.get("role")), block)
    return items, marks


def _running_sizes(items: list[Any]) -> list[int]:
    """Tokens of the prompt up to each block (a token per 4 bytes of JSON, as a rough rule)."""
    sizes: list[int] = []
    total = 0
    for item in items:
        total += max(1, len(json.dumps(item, sort_keys=True)) // 4)
        sizes.append(total)
    return sizes


def _digest(items: list[Any]) -> str:
    return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()


def _result_text(block: dict[str, Any]) -> str:
    content = block.get("content", "")
    if isinstance(content, list):
        return "".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return str(content)


async def _event(writer: asyncio.StreamWriter, name: str, payload: dict[str, Any]) -> None:
    data = json.dumps({"type": name, **payload})
    await LoopbackServer._chunk(writer, f"event: {name}\ndata: {data}\n\n".encode())


async def _error(
    writer: asyncio.StreamWriter, status: int, message: str, headers: dict[str, str] | None = None
) -> None:
    kind = _ERROR_TYPES.get(status, "api_error")
    payload = {"type": "error", "error": {"type": kind, "message": message}}
    extra = {"request-id": "req_fake", **(headers or {})}
    await LoopbackServer._json(writer, status, {**payload, "request_id": "req_fake"}, extra)


def _directive(messages: list[dict[str, Any]]) -> tuple[int, float] | None:
    last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    if last is None:
        return None
    content = last.get("content", "")
    text = (
        content
        if isinstance(content, str)
        else " ".join(str(b.get("text", "")) for b in content if b.get("type") == "text")
    )
    return directive(text)


async def _serve_forever(server: FakeAnthropicServer) -> None:
    await server.start()
    print(f"fake Anthropic server on {server.base_url}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    """`python -m agentchat.testing.anthropic_server --port P`: run it standalone."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = FakeAnthropicServer(port=args.port, directives=True, record=False)
    asyncio.run(_serve_forever(server))


if __name__ == "__main__":
    main()
