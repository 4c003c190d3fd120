"""ChatStream resilience: a dropped Redis connection is resubscribed from the last id."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest

from agentchat import Agent, AgentChat, Settings
from agentchat.client._direct import DirectBackend
from agentchat.connections import get_redis
from agentchat.errors import StreamConsumedError
from agentchat.models.offline import OfflineModel
from agentchat.models.openai import OpenAIModel
from agentchat.protocol.chunks import TextDeltaChunk
from agentchat.protocol.messages import UIMessage
from agentchat.stream import _reader as stream_module
from agentchat.stream._reader import ChatStream, Settled, _Follow
from agentchat.stream._store import StreamStore, StreamWriter, chat_keys
from agentchat.testing import FakeOpenAIServer
from tests.conftest import StartWorker

NewChat = Callable[..., AgentChat]


async def test_dropped_connections_are_resubscribed_without_gaps_or_repeats(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    settings: Settings,
) -> None:
    model_server.token_delay = 0.02
    model_server.reply = lambda messages: " ".join(f"w{i}" for i in range(80))
    await start_worker(Agent(name="echo", model=OpenAIModel("t", base_url=model_server.base_url)))
    chat = new_chat()
    stream = await chat.send_message("go")
    redis = await get_redis(settings)
    deltas: list[str] = []
    kills = 0
    async for chunk in stream:
        if isinstance(chunk, TextDeltaChunk):
            deltas.append(chunk.delta)
            if len(deltas) % 5 == 0 and kills < 3:
                # Kill every client connection (the reader's blocked XREAD among them).
                await redis.execute_command("CLIENT", "KILL", "TYPE", "normal")
                kills += 1
    assert kills == 3
    assert "".join(deltas) == " ".join(f"w{i}" for i in range(80))


async def test_stream_timeout_counts_only_silence(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
) -> None:
    model_server.token_delay = 0.3  # slower than nothing, faster than the timeout
    model_server.reply = lambda messages: "a b c d e f g h"
    await start_worker(Agent(name="echo", model=OpenAIModel("t", base_url=model_server.base_url)))
    chat = new_chat(stream_timeout=1.0)
    text = await asyncio.wait_for((await chat.send_message("slowly")).text(), 30)
    assert text == "a b c d e f g h"  # 2.4 s in total, never 1 s of silence


@pytest.fixture
def quick_questions(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream asks the workflow after 0.2 s of silence (5 s in production)."""
    monkeypatch.setattr(stream_module, "_PROBE_AFTER", 0.2)
    monkeypatch.setattr(stream_module, "_POLL_MS", 200)


@pytest.mark.usefixtures("quick_questions")
async def test_a_reader_reads_on_while_the_workflow_has_not_answered(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A loaded worker answers "did the turn end?" seconds late; here, never. A reader that
    # waited for the answer instead of reading would never get its tokens.
    model_server.ttft = 0.5  # silent long enough for the reader to ask
    model_server.token_delay = 0.05
    words = " ".join(f"w{i}" for i in range(20))
    model_server.reply = lambda messages: words
    await start_worker(Agent(name="echo", model=OpenAIModel("t", base_url=model_server.base_url)))
    asked: list[int | None] = []
    dropped: list[bool] = []

    async def never_answered(
        self: DirectBackend, user_message_id: str | None, turn: int | None
    ) -> None:
        asked.append(turn)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            dropped.append(True)
            raise

    monkeypatch.setattr(DirectBackend, "_settled_turn", never_answered)
    stream = await new_chat().send_message("go")

    deltas = await asyncio.wait_for(_deltas(stream), 30)

    assert asked  # the reader did ask
    assert "".join(deltas) == words
    await asyncio.sleep(0)
    assert dropped == [True] * len(asked)  # the question went once the stream moved


@pytest.mark.usefixtures("quick_questions")
async def test_a_turn_that_streamed_while_the_workflow_was_asked_is_read_from_the_stream(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The answer comes once the turn has ended: "ended". The stream still holds the turn, so
    # the reader reads it instead of finishing from the transcript with no chunk.
    model_server.ttft = 0.5
    model_server.token_delay = 0.05
    words = " ".join(f"w{i}" for i in range(20))
    model_server.reply = lambda messages: words
    await start_worker(Agent(name="echo", model=OpenAIModel("t", base_url=model_server.base_url)))
    asked: list[int | None] = []
    settled_turn = DirectBackend._settled_turn

    async def answered_late(
        self: DirectBackend, user_message_id: str | None, turn: int | None
    ) -> tuple[int, UIMessage] | None:
        asked.append(turn)
        for _ in range(300):
            status = await self.status()
            if status is not None and status.last_turn >= 1 and status.active_turn is None:
                break
            await asyncio.sleep(0.05)
        return await settled_turn(self, user_message_id, turn)

    monkeypatch.setattr(DirectBackend, "_settled_turn", answered_late)
    stream = await new_chat().send_message("go")

    deltas = await asyncio.wait_for(_deltas(stream), 30)

    assert asked
    assert "".join(deltas) == words
    assert "finishing from the transcript" not in caplog.text


KEPT = UIMessage(id="a1", role="assistant", parts=[{"type": "text", "text": "kept"}])
"""Turn 1's answer as the transcript holds it."""


def turn_1_of(
    store: StreamStore,
    chat_id: str,
    ask: Callable[[int | None], Awaitable[Settled | None]],
    *,
    timeout: float = 30,
) -> ChatStream:
    """A reader of turn 1 of `chat_id`, from the stream's start, asking the workflow with `ask`."""
    return ChatStream(
        store, chat_id, after="0-0", follow=_Follow(turn=1), stream_timeout=timeout, probe=ask
    )


async def test_a_stream_timeout_shorter_than_the_first_question_still_asks(
    store: StreamStore,
) -> None:
    async def ended(turn: int | None) -> Settled:
        return 1, KEPT

    # Redis holds nothing of this chat.
    stream = turn_1_of(store, f"lost-{uuid.uuid4().hex[:8]}", ended, timeout=1.0)

    result = await asyncio.wait_for(stream.result(), 10)

    assert result.text == "kept"


@pytest.mark.usefixtures("quick_questions")
async def test_a_later_turn_after_the_cursor_proves_the_turn_lost_its_end(
    store: StreamStore,
) -> None:
    chat_id = f"lost-{uuid.uuid4().hex[:8]}"
    asked: list[int | None] = []

    async def ended_as_turn_2_starts(turn: int | None) -> Settled:
        # Turn 1's records are gone (Redis lost them); turn 2 starts while we ask.
        asked.append(turn)
        writer = StreamWriter(store, chat_id, producer="t2.start", attempt=1, turn=2)
        writer.open_turn("a2", "u2", "submit-message")
        assert await writer.flush()
        return 1, KEPT

    stream = turn_1_of(store, chat_id, ended_as_turn_2_starts)

    result = await asyncio.wait_for(stream.result(), 10)

    assert result.text == "kept"
    assert asked == [1]  # finished at the first answer, not after reading turn 2 and asking again


async def _deltas(stream: ChatStream) -> list[str]:
    return [c.delta async for c in stream if isinstance(c, TextDeltaChunk)]


@pytest.mark.usefixtures("quick_questions")
async def test_a_turn_the_stream_lost_still_finishes_from_the_transcript(
    start_worker: StartWorker, new_chat: NewChat, settings: Settings
) -> None:
    await start_worker(Agent(name="echo", model=OfflineModel()))
    chat = new_chat()
    stream = await chat.send_message("hello")
    for _ in range(300):
        status = await chat.status()
        if status is not None and status.last_turn >= 1 and status.active_turn is None:
            break
        await asyncio.sleep(0.05)
    # Redis lost the chat (a flush, a failover) after the turn ended, before it was read.
    await (await get_redis(settings)).delete(*chat_keys(chat.id))

    result = await asyncio.wait_for(stream.result(), 30)

    transcript = await chat.history()
    assert result.status == "completed"
    assert result.message.id == transcript[-1].id
    assert result.text == "".join(p.get("text", "") for p in transcript[-1].parts)


async def test_a_loop_left_early_is_continued_by_the_next_read(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    model_server.reply = lambda messages: "one two three four five six"
    model_server.token_delay = 0.1  # past the writer's coalescing: the deltas come apart
    await start_worker(Agent(name="echo", model=OpenAIModel("t", base_url=model_server.base_url)))
    stream = await new_chat().send_message("go")
    first: list[str] = []
    async for chunk in stream:
        if isinstance(chunk, TextDeltaChunk):
            first.append(chunk.delta)
            break
    rest = [c.delta async for c in stream if isinstance(c, TextDeltaChunk)]
    assert first and rest, "both loops read part of the turn"
    assert "".join(first + rest) == "one two three four five six"
    assert await stream.text() == "one two three four five six"  # the outcome stays readable
    with pytest.raises(StreamConsumedError, match="already read"):
        async for _ in stream:
            pass


async def test_text_after_a_partial_loop_is_the_whole_turn(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    model_server.reply = lambda messages: "alpha beta gamma"
    await start_worker(Agent(name="echo", model=OpenAIModel("t", base_url=model_server.base_url)))
    stream = await new_chat().send_message("go")
    async for chunk in stream:
        if isinstance(chunk, TextDeltaChunk):
            break
    assert await stream.text() == "alpha beta gamma"
