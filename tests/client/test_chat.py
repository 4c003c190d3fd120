"""AgentChat against a real Temporal dev server, a real Redis and a loopback OpenAI server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agentchat import Agent, AgentChat, ChatSession, Settings
from agentchat.client._direct import DirectBackend
from agentchat.connections import get_redis, get_temporal
from agentchat.errors import StreamConsumedError
from agentchat.models import OfflineModel
from agentchat.models.openai import OpenAIModel
from agentchat.protocol.chunks import DataChunk
from agentchat.stream._store import Retention, StreamStore
from agentchat.testing import FakeOpenAIServer
from agentchat.triggers import Respond, Trigger
from agentchat.worker import create_worker
from tests.conftest import StartWorker

NewChat = Callable[..., AgentChat]


def direct(chat: AgentChat) -> DirectBackend:
    """The Temporal and Redis backend of a chat built without a gateway URL."""
    backend = chat._backend
    assert isinstance(backend, DirectBackend)
    return backend


def echo_agent(server: FakeOpenAIServer, **kwargs: Any) -> Agent:
    return Agent(name="echo", model=OpenAIModel("gpt-test", base_url=server.base_url), **kwargs)


async def test_send_message_streams_the_answer(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    await start_worker(echo_agent(model_server, instructions="Be terse."))
    triggered: list[str] = []
    completed: list[str] = []
    chat = new_chat(
        client_data={"user": "u1"}, on_triggered=triggered.append, on_turn_complete=completed.append
    )
    stream = await chat.send_message("Hello there")
    types = [chunk.type async for chunk in stream]
    assert types[0] == "start" and types[-1] == "finish"
    assert "text-delta" in types and types.count("start-step") == 1
    result = await stream.result()
    assert result.text == "Echo: Hello there"
    assert result.finish_reason == "stop" and result.status == "completed"
    assert result.message.role == "assistant" and result.turn == 1
    assert triggered == [chat.run_id]
    assert completed == [stream.last_event_id] == [chat.session.last_event_id]
    sent = model_server.requests[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "Be terse."}
    assert sent[-1] == {"role": "user", "content": "Hello there"}

    second = await chat.send_message("And again")
    assert await second.text() == "Echo: And again"
    assert triggered == [chat.run_id]  # the same run served the follow-up
    history = await chat.history()
    assert [(m.role, m.text()) for m in history] == [
        ("user", "Hello there"),
        ("assistant", "Echo: Hello there"),
        ("user", "And again"),
        ("assistant", "Echo: And again"),
    ]
    # The model saw the whole conversation on the second turn.
    assert [m["content"] for m in model_server.requests[-1]["messages"][1:]] == [
        "Hello there",
        "Echo: Hello there",
        "And again",
    ]


async def test_stream_can_be_read_once(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    await start_worker(echo_agent(model_server))
    stream = await new_chat().send_message("once")
    snapshots = [m async for m in stream.messages()]
    assert snapshots[-1].text() == "Echo: once"
    assert len({s.text() for s in snapshots}) > 1  # it grew
    assert await stream.text() == "Echo: once"  # the finished outcome stays readable
    with pytest.raises(StreamConsumedError, match="already read"):
        async for _ in stream:
            pass


async def test_concurrent_messages_each_get_their_own_turn(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    model_server.token_delay = 0.02
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    first = await chat.send_message("first message with several words in it")
    second = await chat.send_message("second")
    texts = await asyncio.gather(first.text(), second.text())
    assert list(texts) == ["Echo: first message with several words in it", "Echo: second"]
    assert (first.turn, second.turn) == (1, 2)


async def test_idempotent_send_runs_one_turn(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    one = await chat.send_message("only once", message_id="m-1")
    assert await one.text() == "Echo: only once"
    again = await chat.send_message("only once", message_id="m-1")
    assert await again.text() == "Echo: only once"
    assert again.turn == one.turn == 1
    assert len(model_server.requests) == 1
    assert len(await chat.history()) == 2


async def test_send_raw_uses_the_newest_ui_message(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    stream = await chat.send_raw(
        [
            {"id": "old", "role": "user", "parts": [{"type": "text", "text": "ignored"}]},
            {"id": "u-2", "role": "user", "parts": [{"type": "text", "text": "raw hello"}]},
        ]
    )
    assert await stream.text() == "Echo: raw hello"
    assert next(m.id for m in await chat.history()) == "u-2"


async def test_steer_joins_the_running_turn(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    model_server.token_delay = 0.05
    model_server.reply = lambda messages: (
        "Adjusted."
        if messages[-1]["content"] == "Focus on security"
        else "A long answer " + " ".join(["word"] * 30)
    )
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    stream = await chat.send_message("Review PR 42")
    chunks = []
    steered = False
    async for chunk in stream:
        chunks.append(chunk)
        if chunk.type == "text-delta" and not steered:
            steered = True
            ack = await chat.steer("Focus on security")
            assert ack.injected and ack.turn == 1
    marks = [c for c in chunks if isinstance(c, DataChunk) and c.type == "data-steer"]
    assert len(marks) == 1 and marks[0].data["text"] == "Focus on security"
    assert [c.type for c in chunks].count("start-step") == 2
    result = await stream.result()
    assert result.text.endswith("Adjusted.")
    # The model saw the steer as a user message after its partial answer.
    last = model_server.requests[-1]["messages"]
    assert last[-1] == {"role": "user", "content": "Focus on security"}
    assert last[-2]["role"] == "assistant" and last[-2]["content"].startswith("A long answer")
    history = await chat.history()
    assert len(history) == 2
    assert any(p["type"] == "data-steer" for p in history[1].parts)


async def test_steer_without_a_running_turn_becomes_the_next_turn(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    assert await (await chat.send_message("hi")).text() == "Echo: hi"
    ack = await chat.steer("now this")
    assert not ack.injected
    # The steer runs as its own turn; wait for it through the transcript.
    for _ in range(100):
        history = await chat.history()
        if len(history) == 4 and history[-1].text():
            break
        await asyncio.sleep(0.05)
    assert [m.text() for m in history][2:] == ["now this", "Echo: now this"]


async def test_stop_ends_the_answer_and_keeps_the_partial(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    model_server.token_delay = 0.05
    model_server.reply = lambda messages: " ".join(["token"] * 400)
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    stream = await chat.send_message("talk a lot")
    types: list[str] = []
    async for chunk in stream:
        types.append(chunk.type)
        if chunk.type == "text-delta" and types.count("text-delta") == 3:
            assert await chat.stop() == 1
    assert types[-1] == "abort"
    assert "finish" not in types
    result = await stream.result()
    assert result.status == "stopped"
    assert 0 < len(result.text.split()) < 100
    history = await chat.history()
    assert history[1].text() == result.text
    assert history[1].metadata == {"status": "stopped"}
    # The chat still works, and stop with nothing running does nothing.
    model_server.reply = lambda messages: "fine"
    assert await (await chat.send_message("still there?")).text() == "fine"
    assert await chat.stop() is None


async def test_stop_on_a_chat_that_does_not_exist_starts_nothing(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    assert await chat.stop() is None
    assert await chat.status() is None
    await chat.close()
    assert await chat.status() is None


async def test_reconnect_from_a_mid_turn_cursor_yields_exactly_the_rest(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    model_server.token_delay = 0.02
    model_server.reply = lambda messages: " ".join(f"w{i}" for i in range(60))
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    stream = await chat.send_message("go")
    seen: list[Any] = []
    async for chunk in stream:
        seen.append(chunk)
        if sum(c.type == "text-delta" for c in seen) == 3:
            break  # the reader goes away mid-turn
    cursor = chat.session.last_event_id
    assert cursor is not None
    other = new_chat(id=chat.id, session=ChatSession(last_event_id=cursor))
    rest = [c async for c in await other.reconnect()]
    assert rest[-1].type == "finish"
    text = "".join(c.delta for c in seen + rest if c.type == "text-delta")
    assert text == " ".join(f"w{i}" for i in range(60))
    assert [c.type for c in seen + rest].count("start") == 1


async def test_reconnect_without_cursor_replays_the_active_turn(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    model_server.token_delay = 0.02
    model_server.reply = lambda messages: " ".join(f"w{i}" for i in range(40))
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    stream = await chat.send_message("go")
    async for chunk in stream:
        if chunk.type == "text-delta":
            break
    fresh = new_chat(id=chat.id)
    replay = await fresh.reconnect()
    assert await replay.text() == " ".join(f"w{i}" for i in range(40))
    # Nothing is running any more: reconnect gives an empty, finished stream.
    idle = await new_chat(id=chat.id).reconnect()
    assert [c async for c in idle] == []


async def test_preload_runs_the_hook_before_any_message(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    calls: list[dict[str, Any] | None] = []

    async def warm_up(ctx: Any) -> str:
        calls.append(ctx.client_data)
        return "The user's plan is Pro."

    await start_worker(echo_agent(model_server, instructions="Help.", preload=warm_up))
    chat = new_chat(client_data={"plan": "pro"})
    ack = await chat.preload()
    assert ack.preloaded and calls == [{"plan": "pro"}]
    await chat.preload()  # once per conversation
    assert len(calls) == 1
    assert await (await chat.send_message("hi")).text() == "Echo: hi"
    system = model_server.requests[-1]["messages"][0]
    assert system == {"role": "system", "content": "Help.\n\nThe user's plan is Pro."}


async def test_close_then_a_new_message_continues_the_conversation(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    await start_worker(echo_agent(model_server))
    triggered: list[str] = []
    chat = new_chat(on_triggered=triggered.append)
    assert await (await chat.send_message("remember 7")).text() == "Echo: remember 7"
    first_run = chat.run_id
    await chat.close(wait=True)
    status = await chat.status()
    assert status is not None and status.closed
    assert await (await chat.send_message("what number?")).text() == "Echo: what number?"
    assert chat.run_id != first_run and triggered == [first_run, chat.run_id]
    contents = [m["content"] for m in model_server.requests[-1]["messages"]]
    assert contents == ["remember 7", "Echo: remember 7", "what number?"]


async def test_a_follow_up_updates_the_run_it_knows_and_starts_one_once_that_ended(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    with_start: list[str | None] = []
    update_with_start = direct(chat)._update_with_start

    async def counting(*args: Any, **kwargs: Any) -> Any:
        with_start.append(chat.run_id)
        return await update_with_start(*args, **kwargs)

    monkeypatch.setattr(direct(chat), "_update_with_start", counting)
    assert await (await chat.send_message("one")).text() == "Echo: one"
    first_run = chat.run_id
    assert await (await chat.send_message("two")).text() == "Echo: two"
    assert await chat.steer("three") is not None
    assert with_start == [None] and chat.run_id == first_run
    await chat.close(wait=True)
    assert await (await chat.send_message("four")).text() == "Echo: four"
    assert with_start == [None, first_run] and chat.run_id != first_run
    assert [m.role for m in await chat.history()] == ["user", "assistant"] * 4


@contextlib.asynccontextmanager
async def serving_with(
    retention: Retention, settings: Settings, model_server: FakeOpenAIServer
) -> AsyncIterator[StreamStore]:
    """An echo worker whose stream store keeps chats by `retention`."""
    store = StreamStore(await get_redis(settings), retention)
    agent = echo_agent(model_server, triggers=[Trigger("ping", steps=[Respond()])])
    worker = create_worker(
        await get_temporal(settings),
        store,
        [agent],
        task_queue=settings.task_queue,
        settings=settings,
    )
    async with contextlib.aclosing(agent), worker:
        yield store


async def test_a_turn_read_after_retention_trimmed_it_finishes_from_the_transcript(
    new_chat: NewChat, model_server: FakeOpenAIServer, settings: Settings
) -> None:
    async with serving_with(Retention(keep_turns=1), settings, model_server):
        chat = new_chat()
        unread = await chat.send_message("one")
        for text in ("two", "three"):  # their ends trim the turns before them from Redis
            assert await (await chat.send_message(text)).text() == f"Echo: {text}"
        assert await asyncio.wait_for(unread.text(), 4) == "Echo: one"  # not after 5 s idle


async def test_a_trigger_turn_read_after_retention_trimmed_it_finishes_from_the_transcript(
    new_chat: NewChat, model_server: FakeOpenAIServer, settings: Settings
) -> None:
    async with serving_with(Retention(keep_turns=1), settings, model_server):
        chat = new_chat()
        await (await chat.send_message("hello")).text()
        unread = await chat.trigger("ping")  # its carrier message is not in the transcript
        for text in ("two", "three"):
            assert await (await chat.send_message(text)).text() == f"Echo: {text}"
        assert await asyncio.wait_for(unread.text(), 4) == "Echo: hello"
        assert unread.turn == 2


async def test_a_turn_after_the_stream_expired_is_read_from_the_stream_even_once_ended(
    new_chat: NewChat, model_server: FakeOpenAIServer, settings: Settings
) -> None:
    # An idle chat's keys expire; its next turn starts a new stream, at turn 2, not 1. A
    # reader that comes only once that turn ended must still get its chunks from the stream,
    # not take the fresh stream for a trimmed one and finish from the transcript (no chunks).
    async with serving_with(Retention(idle_ttl_seconds=1), settings, model_server) as store:
        chat = new_chat()
        assert await (await chat.send_message("one")).text() == "Echo: one"
        await asyncio.sleep(1.5)
        assert await store.first_entry(chat.id) is None  # expired
        stream = await chat.send_message("two")
        for _ in range(100):
            status = await chat.status()
            if status is not None and status.last_turn == 2 and status.active_turn is None:
                break
            await asyncio.sleep(0.05)
        deltas = [c async for c in stream if c.type == "text-delta"]
        assert "".join(c.delta for c in deltas) == "Echo: two"  # type: ignore[attr-defined]


async def test_message_sent_right_after_close_is_not_lost(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    model_server.token_delay = 0.02
    await start_worker(echo_agent(model_server))
    chat = new_chat()
    first = await chat.send_message("one two three four five")
    await chat.close()
    second = await chat.send_message("after close")
    assert await first.text() == "Echo: one two three four five"
    assert await second.text() == "Echo: after close"
    assert len(await chat.history()) == 4


async def test_on_busy_reject_and_interrupt(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    from agentchat.errors import ChatBusyError

    model_server.token_delay = 0.05
    model_server.reply = lambda messages: (
        "short" if messages[-1]["content"] == "urgent" else " ".join(["slow"] * 200)
    )
    model = OpenAIModel("gpt-test", base_url=model_server.base_url)
    await start_worker(
        Agent(name="strict", model=model, on_busy="reject"),
        Agent(name="eager", model=model, on_busy="interrupt"),
    )
    strict = new_chat(agent="strict")
    running = await strict.send_message("long one")
    async for chunk in running:
        if chunk.type == "text-delta":
            break
    with pytest.raises(ChatBusyError, match="busy"):
        await strict.send_message("urgent")
    await strict.stop()

    eager = new_chat(agent="eager")
    long_turn = await eager.send_message("long one")
    async for chunk in long_turn:
        if chunk.type == "text-delta":
            break
    urgent = await eager.send_message("urgent")
    assert await urgent.text() == "short"
    history = await eager.history()
    assert history[1].metadata == {"status": "stopped"}
    assert [m.text() for m in history][2:] == ["urgent", "short"]


async def test_offline_model_answers_without_network(
    start_worker: StartWorker, new_chat: NewChat
) -> None:
    await start_worker(Agent(name="demo", model=OfflineModel(tokens_per_second=0)))
    chat = new_chat(agent="demo")
    text = await (await chat.send_message("Hello!")).text()
    assert text.startswith("You said: Hello!.") and "1 message" in text
    text = await (await chat.send_message("Again")).text()
    assert "2 messages" in text


async def test_history_of_unknown_chat_is_empty(new_chat: NewChat) -> None:
    assert await new_chat().history() == []


async def test_connections_are_shared_per_process(new_chat: NewChat) -> None:
    from agentchat.connections import get_redis, get_temporal

    one, two = new_chat(), new_chat()
    assert await direct(one)._temporal() is await direct(two)._temporal()
    assert (await direct(one)._store()).redis is (await direct(two)._store()).redis
    assert await get_redis(one.settings) is await get_redis(two.settings)
    assert await get_temporal(one.settings) is await get_temporal(two.settings)
