"""A deterministic offline model for demos and tests: no network, no key, known timing."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import orjson

from agentchat.models.base import (
    ModelEvent,
    ModelRequest,
    StepFinish,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolDefinition,
    to_chat_messages,
)

__all__ = ["OfflineModel"]


class OfflineModel:
    """Answers from the conversation itself, word by word, at a fixed rate.

    The same conversation always yields the same answer, so a retried step reproduces it. The
    answer quotes the latest user input, mentions steering when it was steered, and says how
    many user messages it has seen, which makes history visible in a demo.

    With tools, a user message that names a tool (`get_time` or "get time") makes it call that
    tool, passing the message as every required string argument; once the results are in, it
    answers with them.

    Args:
        tokens_per_second: Words streamed per second (0 for as fast as possible).
        first_token_delay: Seconds before the first word.
        words: Extra filler words per answer, for long answers in demos and tests.
    """

    prefetchable = True
    """A plain generator: it may be read on from another task."""

    def __init__(
        self, tokens_per_second: float = 40.0, first_token_delay: float = 0.05, words: int = 0
    ) -> None:
        self.name = f"offline:{tokens_per_second:g}"
        self.tokens_per_second = tokens_per_second
        self.first_token_delay = first_token_delay
        self.words = words

    def answer(self, request: ModelRequest) -> str:
        messages = to_chat_messages(None, request.messages)
        users = [m["content"] for m in messages if m["role"] == "user"]
        latest = users[-1] if users else ""
        # Within a turn the transcript ends with the assistant message being built; a user
        # message after it is a steer joining the turn.
        raw = request.messages
        steered = len(raw) >= 2 and raw[-1].role == "user" and raw[-2].role == "assistant"
        quoted = re.sub(r"\s+", " ", latest).strip()[:200]
        if steered:
            text = f"Understood, adjusting course: {quoted}."
        else:
            text = (
                f"You said: {quoted}. This is agentchat's offline demo model; it has seen "
                f"{len(users)} message{'s' if len(users) != 1 else ''} in this conversation."
            )
        if self.words:
            text += " " + " ".join(f"word{i}" for i in range(self.words))
        return text

    def tool_calls(self, request: ModelRequest) -> list[ToolCall]:
        """The calls this step makes: tools the latest user message names, once per turn."""
        messages = to_chat_messages(None, request.messages)
        if not request.tools or not messages or messages[-1]["role"] != "user":
            return []
        latest = str(messages[-1]["content"])
        lowered = latest.lower()
        done = sum(1 for m in messages if m["role"] == "tool")
        calls: list[ToolCall] = []
        for tool in request.tools:
            if tool.name.lower() in lowered or tool.name.replace("_", " ").lower() in lowered:
                arguments = orjson.dumps(_arguments(tool, latest)).decode()
                calls.append(ToolCall(f"call_{done + len(calls) + 1}", tool.name, arguments))
        return calls

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        calls = self.tool_calls(request)
        if calls:
            if self.first_token_delay:
                await asyncio.sleep(self.first_token_delay)
            for call in calls:
                yield ToolCallStart(call.id, call.name)
                yield ToolCallDelta(call.id, call.arguments)
                yield call
            yield StepFinish("tool-calls", output_tokens=len(calls))
            return
        text = self._tool_summary(request) or self.answer(request)
        if self.first_token_delay:
            await asyncio.sleep(self.first_token_delay)
        tokens = re.findall(r"\S+\s*", text)
        delay = 1.0 / self.tokens_per_second if self.tokens_per_second > 0 else 0.0
        for i, token in enumerate(tokens):
            if i and delay:
                await asyncio.sleep(delay)
            yield TextDelta(token)
        yield StepFinish("stop", input_tokens=len(str(request.messages)), output_tokens=len(tokens))

    def _tool_summary(self, request: ModelRequest) -> str | None:
        messages = to_chat_messages(None, request.messages)
        results: list[str] = []
        for message in reversed(messages):
            if message["role"] != "tool":
                break
            results.append(str(message["content"]))
        if not results:
            return None
        return "Here is what the tools returned: " + "; ".join(reversed(results))


def _arguments(tool: ToolDefinition, text: str) -> dict[str, object]:
    schema = tool.parameters
    properties = schema.get("properties", {})
    return {
        name: text
        for name in schema.get("required", [])
        if properties.get(name, {}).get("type", "string") == "string"
    }
