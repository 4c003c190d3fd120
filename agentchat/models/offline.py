"""A deterministic offline model for demos and tests: no network, no key, known timing."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from agentchat.models.base import ModelEvent, ModelRequest, StepFinish, TextDelta, to_chat_messages

__all__ = ["OfflineModel"]


class OfflineModel:
    """Answers from the conversation itself, word by word, at a fixed rate.

    The same conversation always yields the same answer, so a retried step reproduces it. The
    answer quotes the latest user input, mentions steering when it was steered, and says how
    many user messages it has seen, which makes history visible in a demo.

    Args:
        tokens_per_second: Words streamed per second (0 for as fast as possible).
        first_token_delay: Seconds before the first word.
        words: Extra filler words per answer, for long answers in demos and tests.
    """

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

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        text = self.answer(request)
        if self.first_token_delay:
            await asyncio.sleep(self.first_token_delay)
        tokens = re.findall(r"\S+\s*", text)
        delay = 1.0 / self.tokens_per_second if self.tokens_per_second > 0 else 0.0
        for i, token in enumerate(tokens):
            if i and delay:
                await asyncio.sleep(delay)
            yield TextDelta(token)
        yield StepFinish("stop", input_tokens=len(str(request.messages)), output_tokens=len(tokens))
