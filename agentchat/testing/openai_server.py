"""A real HTTP server on loopback that speaks OpenAI's streaming chat-completions protocol.

It answers `POST /v1/chat/completions` with `stream: true` as the real API does (SSE
`chat.completion.chunk` events, a usage chunk, `data: [DONE]`), at a controllable time to first
token and token rate, so tests and benchmarks know the model's own cost exactly. Every request
body is recorded. Failures can be scripted per request.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentchat.testing._loopback import LoopbackServer, Request, directive, words

__all__ = ["FakeOpenAIServer", "FakeToolCall"]


@dataclass(frozen=True)
class FakeToolCall:
    """A tool call the fake model makes; `arguments` is sent verbatim (it may be bad JSON)."""

    name: str
    arguments: str = "{}"
    id: str | None = None


Reply = Callable[[list[dict[str, Any]]], "str | list[str] | list[FakeToolCall]"]


def default_reply(messages: list[dict[str, Any]]) -> str:
    last: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    return f"Echo: {last.get('content', '')}"


@dataclass
class FakeOpenAIServer(LoopbackServer):
    """Start with `await server.start()`; point `OPENAI_BASE_URL` at `server.base_url`.

    Attributes:
        reply: Maps the request's messages to the answer: a string (split into word tokens)
            or a list of tokens.
        ttft: Seconds before the first token.
        token_delay: Seconds between tokens.
        failures: Queue of HTTP statuses to answer the next requests with, before succeeding.
        requests: Every request body received, in order.
    """

    reply: Reply = default_reply
    ttft: float = 0.0
    token_delay: float = 0.0
    failures: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    cut_after: list[int] = field(default_factory=list)
    """Queue: the next streamed answers break off (connection dropped) after this many tokens.

    Each streamed answer takes one entry, also one with fewer tokens (which is not cut)."""
    directives: bool = False
    """Let a user message `tokens=N [rate=R]` ask for N tokens at R per second."""
    stamp: bool = False
    """Send each token as `<token>@<emission time in µs> ` (for delivery-delay benchmarks)."""
    record: bool = True
    context_window: int | None = None
    """Refuse prompts of more tokens than this with a 400 `context_length_exceeded`, as
    OpenAI does (tokens counted as `count_tokens` does)."""
    count_tokens: bool = False
    """Report `prompt_tokens` as counted from the request (about four characters a token,
    plus four a message) rather than a fixed 10; on whenever `context_window` is set."""
    cached_tokens: int = 0
    """Report this many of the prompt's tokens as cached (`prompt_tokens_details`)."""
    reasoning_tokens: int = 0
    """Report this many extra output tokens as reasoning (`completion_tokens_details`)."""
    usage: list[dict[str, Any]] = field(default_factory=list)
    """Every usage the server reported, in order."""

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    async def start(self) -> FakeOpenAIServer:
        await super().start()
        return self

    def reset(self) -> None:
        self.reply = default_reply
        self.ttft = 0.0
        self.token_delay = 0.0
        self.failures.clear()
        self.cut_after.clear()
        self.requests.clear()
        self.usage.clear()
        self.context_window = None
        self.count_tokens = False
        self.cached_tokens = 0
        self.reasoning_tokens = 0

    async def _handle(self, http: Request, writer: asyncio.StreamWriter) -> bool:
        if http.method != "POST" or not http.path.endswith("/chat/completions"):
            message = f"no route {http.method} {http.path}"
            await self._json(writer, 404, {"error": {"message": message}})
            return True
        request = json.loads(http.body)
        if self.record:
            self.requests.append(request)
        if self.failures:
            status = self.failures.pop(0)
            await self._json(
                writer, status, {"error": {"message": f"scripted failure {status}", "type": "test"}}
            )
            return True
        messages = request.get("messages", [])
        prompt_tokens, refusal = self._measure(request)
        if refusal is not None:
            await self._json(writer, 400, refusal)
            return True
        answer = self.reply(messages)
        token_delay = self.token_delay
        asked = _directive(messages) if self.directives else None
        if asked is not None:
            count, rate = asked
            answer = [f"w{i} " for i in range(count)]
            token_delay = 1.0 / rate if rate else 0.0
        calls = (
            [a for a in answer if isinstance(a, FakeToolCall)] if isinstance(answer, list) else []
        )
        tokens = [] if calls else (answer if isinstance(answer, list) else words(answer))
        if not request.get("stream"):
            await self._json(writer, 200, _completion(request, "".join(map(str, tokens))))
            return True
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        created = int(time.time())
        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": created,
            "model": request.get("model", "fake"),
        }
        await self._event(
            writer,
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                ],
            },
        )
        if self.ttft:
            await asyncio.sleep(self.ttft)
        cut = self.cut_after.pop(0) if self.cut_after else None
        started = time.monotonic()
        for i, token in enumerate(tokens):
            if i == cut:
                await writer.drain()
                writer.transport.abort()
                return False
            if i and token_delay:
                # Paced against the start, not the previous token: no drift under load.
                await asyncio.sleep(max(0.0, started + i * token_delay - time.monotonic()))
            if self.stamp:
                token = f"{str(token).strip()}@{time.time_ns() // 1000} "
            await self._event(
                writer,
                {
                    **base,
                    "choices": [{"index": 0, "delta": {"content": token}, "finish_reason": None}],
                },
            )
        for index, call in enumerate(calls):
            call_id = call.id or f"call_{len(self.requests)}_{index}"
            opening = {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            await self._event(writer, _delta(base, {"tool_calls": [opening]}))
            half = len(call.arguments) // 2
            for piece in (call.arguments[:half], call.arguments[half:]):
                fragment = {"index": index, "function": {"arguments": piece}}
                await self._event(writer, _delta(base, {"tool_calls": [fragment]}))
        finish = "tool_calls" if calls else "stop"
        await self._event(
            writer, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
        )
        if (request.get("stream_options") or {}).get("include_usage"):
            usage = self._usage(prompt_tokens, len(tokens) + len(calls))
            await self._event(writer, {**base, "choices": [], "usage": usage})
        await self._chunk(writer, b"data: [DONE]\n\n")
        await self._end(writer)
        return True

    def _measure(self, request: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        """The prompt's tokens, and the error answering it when it overflows the window."""
        if not self.count_tokens and self.context_window is None:
            return 10, None
        tokens = count_prompt_tokens(request)
        if self.context_window is not None and tokens > self.context_window:
            return tokens, _context_error(self.context_window, tokens)
        return tokens, None

    def _usage(self, prompt: int, completion: int) -> dict[str, Any]:
        """The usage chunk's figures (recorded in `usage`)."""
        completion += self.reasoning_tokens
        usage: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if self.cached_tokens:
            usage["prompt_tokens_details"] = {"cached_tokens": min(self.cached_tokens, prompt)}
        if self.reasoning_tokens:
            usage["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        self.usage.append(usage)
        return usage

    async def _event(self, writer: asyncio.StreamWriter, payload: dict[str, Any]) -> None:
        await self._chunk(writer, b"data: " + json.dumps(payload).encode() + b"\n\n")


def count_prompt_tokens(request: dict[str, Any]) -> int:
    """A request's prompt tokens as the fake counts them: about four characters a token for
    each message's content and tool calls, plus four a message, plus the tool definitions."""
    chars = 0
    messages = request.get("messages", [])
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        chars += len(content or "")
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            chars += len(function.get("name", "")) + len(function.get("arguments", ""))
    if request.get("tools"):
        chars += len(json.dumps(request["tools"]))
    return -(-chars // 4) + 4 * len(messages)


def _context_error(window: int, tokens: int) -> dict[str, Any]:
    return {
        "error": {
            "message": (
                f"This model's maximum context length is {window} tokens. However, your"
                f" messages resulted in {tokens} tokens. Please reduce the length of the"
                " messages."
            ),
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }


def _directive(messages: list[dict[str, Any]]) -> tuple[int, float] | None:
    last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    return directive(str(last.get("content", ""))) if last else None


def _delta(base: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


def _completion(request: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "fake"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
    }


async def _serve_forever(server: FakeOpenAIServer) -> None:
    await server.start()
    print(f"fake OpenAI server on {server.base_url}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    """`python -m agentchat.testing.openai_server --port P [--stamp]`: run it standalone."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--stamp", action="store_true")
    args = parser.parse_args()
    server = FakeOpenAIServer(port=args.port, directives=True, stamp=args.stamp, record=False)
    asyncio.run(_serve_forever(server))


if __name__ == "__main__":
    main()
