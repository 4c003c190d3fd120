"""`AgentChat` as a facade over an in-memory `ChatBackend`: no Temporal, Redis or gateway.

Each method must reach the backend with the contract model it stands for, keep the caller's
state (run id, session cursor, callbacks), and refuse bad arguments before any backend call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from agentchat import AgentChat, ChatSession, Settings
from agentchat.client import _chat
from agentchat.client._backend import ChatBackend, Probe, StreamFactory
from agentchat.errors import (
    InvalidCursorError,
    InvalidMessageError,
    MessageTooLargeError,
    NotPendingError,
    StreamTimeoutError,
)
from agentchat.protocol.contracts import (
    ApprovalInput,
    ChatStatus,
    CloseInput,
    DeleteChatResult,
    PreloadAck,
    PreloadInput,
    SendAck,
    SendInput,
    StopAck,
    StopInput,
    ToolResultAck,
    ToolResultInput,
)
from agentchat.protocol.directory import ChatInfo
from agentchat.protocol.messages import UIMessage, user_message
from agentchat.stream import ChatStream, Entry
from agentchat.stream._reader import _Follow
from agentchat.stream._store import id_tuple

ANSWER = UIMessage(id="a-1", role="assistant", parts=[{"type": "text", "text": "settled"}])


def turn_entries(turn: int, user_message_id: str, text: str) -> list[Entry]:
    """A whole turn as the stream stores it: start, one text part, end."""
    chunks: list[dict[str, Any]] = [
        {"type": "start", "messageId": f"a-{turn}"},
        {"type": "text-start", "id": "t"},
        {"type": "text-delta", "id": "t", "delta": text},
        {"type": "text-end", "id": "t"},
        {"type": "finish", "finishReason": "stop"},
    ]
    envelopes: list[dict[str, Any]] = [
        {"k": "turn-start", "turn": turn, "userMessageId": user_message_id, "messageId": "a"},
        *({"k": "chunk", "turn": turn, "p": "s1", "a": 1, "c": c} for c in chunks),
        {"k": "turn-end", "turn": turn, "status": "completed"},
    ]
    return [Entry(f"{1000 + turn}-{i}", envelope) for i, envelope in enumerate(envelopes)]


class MemorySource:
    """An `EntrySource` over a list; an empty read blocks for `block_ms`, as XREAD does."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries

    @property
    def unavailable_error(self) -> type[Exception]:
        return ConnectionError

    async def read(
        self, chat_id: str, after: str, *, block_ms: int, count: int = 500
    ) -> list[Entry]:
        found = [e for e in self.entries if id_tuple(e.id) > id_tuple(after)][:count]
        if not found:
            await asyncio.sleep(block_ms / 1000)
        return found

    async def trimmed_before(self, chat_id: str) -> str | None:
        return None


class FakeBackend:
    """Records every call with its arguments and answers from canned values."""

    def __init__(self, kind: str, args: tuple[Any, ...], options: dict[str, Any]) -> None:
        self.kind = kind
        self.args = args
        self.streams: StreamFactory = options.pop("streams")
        self.options = options
        self.calls: list[tuple[str, Any]] = []
        self.fail: Exception | None = None
        self.new_run = True
        self.entries: list[Entry] = []
        self.probe: Probe | None = None
        self.stop_turn: int | None = 2

    def _record(self, name: str, argument: Any) -> None:
        self.calls.append((name, argument))
        if self.fail is not None:
            raise self.fail

    def _stream(self, after: str, follow: _Follow) -> ChatStream:
        return self.streams(MemorySource(self.entries), after, follow, self.probe)

    async def send(self, request: SendInput) -> tuple[SendAck, ChatStream]:
        self._record("send", request)
        message_id = request.message.id
        if not self.entries:
            self.entries = turn_entries(1, message_id, f"Echo: {request.message.text()}")
        ack = SendAck(chat_id="c", message_id=message_id, run_id="run-1", new_run=self.new_run)
        return ack, self._stream("0-0", _Follow(user_message_id=message_id))

    async def trigger(self, request: SendInput) -> tuple[SendAck, ChatStream]:
        self._record("trigger", request)
        message_id = request.message.id
        ack = SendAck(chat_id="c", message_id=message_id, run_id="run-1", new_run=self.new_run)
        return ack, self._stream("0-0", _Follow(user_message_id=message_id))

    async def resources(self) -> dict[str, Any]:
        self._record("resources", None)
        return {}

    async def steer(self, request: SendInput) -> SendAck:
        self._record("steer", request)
        return SendAck(
            chat_id="c",
            message_id=request.message.id,
            run_id="run-2",
            new_run=self.new_run,
            injected=True,
        )

    async def stop(self, request: StopInput) -> StopAck:
        self._record("stop", request)
        return StopAck(turn=self.stop_turn)

    async def close(self, request: CloseInput, *, wait: bool) -> None:
        self._record("close", (request, wait))

    async def preload(self, request: PreloadInput) -> PreloadAck:
        self._record("preload", request)
        return PreloadAck(run_id="run-p", preloaded=True)

    async def submit_tool_result(self, request: ToolResultInput) -> ToolResultAck:
        self._record("submit_tool_result", request)
        return ToolResultAck(turn=3)

    async def answer_approval(self, request: ApprovalInput) -> ToolResultAck:
        self._record("answer_approval", request)
        return ToolResultAck(turn=4)

    async def reconnect(self, cursor: str | None) -> ChatStream:
        self._record("reconnect", cursor)
        return self._stream(cursor or "0-0", _Follow(turn=1))

    async def open_stream(self, after: str, follow: _Follow) -> ChatStream:
        self._record("open_stream", (after, follow))
        return self._stream(after, follow)

    async def history(self) -> list[UIMessage]:
        self._record("history", None)
        return [user_message("hi", "m-1"), ANSWER]

    async def thread(self, name: str) -> list[UIMessage]:
        self._record("thread", name)
        return [ANSWER]

    async def status(self) -> ChatStatus | None:
        self._record("status", None)
        return ChatStatus(
            chat_id="c",
            agent="echo",
            active_turn=None,
            last_turn=1,
            queued=0,
            closed=False,
            message_turns={"m-1": 1},
        )

    async def info(self) -> ChatInfo:
        self._record("info", None)
        return INFO

    async def update(
        self,
        *,
        title: str | None = None,
        archived: bool | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ChatInfo:
        self._record("update", {"title": title, "archived": archived, "metadata": metadata})
        changes = {"title": title, "archived": archived, "metadata": metadata}
        return INFO.model_copy(update={k: v for k, v in changes.items() if v is not None})

    async def delete(self, *, wait: bool) -> DeleteChatResult | None:
        self._record("delete", wait)
        return DeleteChatResult(chat_id="c", existed=True) if wait else None


INFO = ChatInfo(
    chat_id="c",
    agent="echo",
    created_at=datetime(2026, 12, 6, tzinfo=UTC),
    updated_at=datetime(2026, 12, 6, tzinfo=UTC),
)


def conforms(backend: FakeBackend) -> ChatBackend:
    """Type-checked: the fake offers exactly what `AgentChat` asks of a backend."""
    return backend


Built = list[FakeBackend]
NewChat = Callable[..., tuple[AgentChat, FakeBackend]]


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Built:
    """Every backend `AgentChat` constructs, faked; the environment names no gateway."""
    made: Built = []

    def factory(kind: str) -> Callable[..., FakeBackend]:
        def make(*args: Any, **options: Any) -> FakeBackend:
            made.append(FakeBackend(kind, args, options))
            return made[-1]

        return make

    monkeypatch.setattr(_chat, "DirectBackend", factory("direct"))
    monkeypatch.setattr(_chat, "HttpBackend", factory("http"))
    for name in ("AGENTCHAT_URL", "AGENTCHAT_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return made


@pytest.fixture
def new_chat(built: Built) -> NewChat:
    def make(
        agent: str = "echo", id: str | None = "chat-1", **kwargs: Any
    ) -> tuple[AgentChat, FakeBackend]:
        chat = AgentChat(agent, id, **kwargs)
        [backend] = built
        built.clear()
        conforms(backend)
        return chat, backend

    return make


# -- construction ------------------------------------------------------------------------------


def test_without_a_url_the_direct_backend_serves_the_chat(built: Built) -> None:
    settings = Settings(task_queue="q")
    chat = AgentChat("echo", "chat-1", settings=settings, accept_timeout=3)
    fresh = AgentChat("echo", settings=settings)

    [direct, new] = built
    assert direct.kind == "direct" and direct.args == ("chat-1", "echo", chat.settings)
    assert direct.options == {
        "accept_timeout": timedelta(seconds=3),
        "new_chat": False,
        "owner": None,
        "parent": None,
        "inputs": None,
    }
    assert new.args[0] == fresh.id and new.options["new_chat"] is True
    assert direct.streams == chat._stream  # its streams report to this chat


def test_a_base_url_or_agentchat_url_picks_the_gateway(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = httpx.AsyncClient()
    chat = AgentChat(
        "echo",
        "chat-1",
        base_url="http://gw",
        api_key="k",
        token="t",
        http_client=client,
        headers={"X": "1"},
    )
    monkeypatch.setenv("AGENTCHAT_URL", "http://env-gw")
    monkeypatch.setenv("AGENTCHAT_API_KEY", "env-key")
    AgentChat("echo", "chat-2")

    [explicit, from_env] = built
    assert explicit.kind == "http" and explicit.args == ("chat-1", "http://gw")
    assert explicit.options == {
        "api_key": "k",
        "token": "t",
        "http_client": client,
        "headers": {"X": "1"},
        "inputs": None,
    }
    assert explicit.streams == chat._stream
    assert from_env.kind == "http" and from_env.args == ("chat-2", "http://env-gw")
    assert from_env.options["api_key"] == "env-key"


def test_bad_ids_and_agents_fail_before_any_backend_exists(built: Built) -> None:
    with pytest.raises(ValueError, match="chat id"):
        AgentChat("echo", "has {braces}")
    with pytest.raises(ValueError, match="chat id"):
        AgentChat("echo", "x" * 201)
    with pytest.raises(ValueError, match="agent must name"):
        AgentChat("")
    assert built == []


# -- sending -----------------------------------------------------------------------------------


async def test_send_message_sends_a_send_input_and_streams_its_turn(new_chat: NewChat) -> None:
    triggered: list[str] = []
    completed: list[str] = []
    chat, backend = new_chat(
        client_data={"user": "u1"}, on_triggered=triggered.append, on_turn_complete=completed.append
    )

    stream = await chat.send_message("hello", message_id="m-1")

    assert backend.calls == [
        (
            "send",
            SendInput(
                message=user_message("hello", "m-1"), agent="echo", client_data={"user": "u1"}
            ),
        )
    ]
    assert isinstance(stream.ack, SendAck) and stream.ack.message_id == "m-1"
    assert chat.run_id == "run-1" and triggered == ["run-1"]
    assert await stream.text() == "Echo: hello"
    last = backend.entries[-1].id
    assert chat.session.last_event_id == last and completed == [last]


async def test_send_message_options(new_chat: NewChat) -> None:
    chat, backend = new_chat(client_data={"user": "u1"})
    message = UIMessage(id="m-9", role="user", parts=[{"type": "text", "text": "typed"}])

    await chat.send_message("no id")
    await chat.send_message(message, client_data={"other": True})

    [(_, generated), (_, given)] = backend.calls
    assert generated.message.id.startswith("msg-") and generated.message.text() == "no id"
    assert generated.client_data == {"user": "u1"}
    assert given == SendInput(message=message, agent="echo", client_data={"other": True})


async def test_on_triggered_is_awaited_and_only_for_a_new_run(new_chat: NewChat) -> None:
    triggered: list[str] = []

    async def remember(run_id: str) -> None:
        await asyncio.sleep(0)
        triggered.append(run_id)

    chat, backend = new_chat(on_triggered=remember)
    await chat.send_message("one")
    backend.new_run = False
    await chat.steer("two")
    assert triggered == ["run-1"]
    assert chat.run_id == "run-2"  # a known run is still noted


async def test_send_raw_sends_only_the_newest_message(new_chat: NewChat) -> None:
    chat, backend = new_chat()
    older = {"id": "m-1", "role": "user", "parts": [{"type": "text", "text": "old"}]}
    newest = {"id": "m-2", "role": "user", "parts": [{"type": "text", "text": "new"}]}

    stream = await chat.send_raw([older, newest], client_data={"k": 1})

    assert backend.calls == [
        (
            "send",
            SendInput(message=UIMessage.model_validate(newest), agent="echo", client_data={"k": 1}),
        )
    ]
    assert await stream.text() == "Echo: new"


async def test_bad_messages_fail_before_any_backend_call(new_chat: NewChat) -> None:
    chat, backend = new_chat()
    assistant = UIMessage(id="a", role="assistant", parts=[{"type": "text", "text": "x"}])
    with pytest.raises(InvalidMessageError, match="empty"):
        await chat.send_message("  \n ")
    with pytest.raises(MessageTooLargeError, match="limit is 262144 bytes"):
        await chat.send_message("x" * 300_000)
    with pytest.raises(InvalidMessageError, match="str or UIMessage"):
        await chat.send_message(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidMessageError, match=r"\.id must be"):
        await chat.send_message("hi", message_id="has space")
    with pytest.raises(InvalidMessageError, match="role must be 'user'"):
        await chat.send_message(assistant)
    with pytest.raises(InvalidMessageError, match="the list is empty"):
        await chat.send_raw([])
    with pytest.raises(InvalidMessageError, match=r"send_raw\(messages\)\[-1\] is not a"):
        await chat.send_raw([{"id": "a"}])
    with pytest.raises(InvalidMessageError, match=r"send_raw\(messages\)\[-1\]\.parts"):
        await chat.send_raw([{"id": "a", "role": "user"}])
    with pytest.raises(InvalidMessageError, match="empty"):
        await chat.steer("")
    with pytest.raises(InvalidMessageError, match="str or UIMessage"):
        await chat.steer(None)  # type: ignore[arg-type]
    assert backend.calls == []
    assert chat.run_id is None


async def test_steer_sends_a_steer_input(new_chat: NewChat) -> None:
    triggered: list[str] = []
    chat, backend = new_chat(client_data={"user": "u1"}, on_triggered=triggered.append)

    ack = await chat.steer("shorter", message_id="s-1")

    expected = SendInput(
        message=user_message("shorter", "s-1"),
        agent="echo",
        client_data={"user": "u1"},
        kind="steer",
    )
    assert backend.calls == [("steer", expected)]
    assert ack.injected and ack.run_id == "run-2"
    assert chat.run_id == "run-2" and triggered == ["run-2"]


# -- control -----------------------------------------------------------------------------------


async def test_stop_answers_the_stopped_turn(new_chat: NewChat) -> None:
    chat, backend = new_chat()
    assert await chat.stop() == 2
    backend.stop_turn = None
    assert await chat.stop() is None
    assert backend.calls == [("stop", StopInput()), ("stop", StopInput())]


async def test_close_passes_wait(new_chat: NewChat) -> None:
    chat, backend = new_chat()
    await chat.close()
    await chat.close(wait=True)
    assert backend.calls == [("close", (CloseInput(), False)), ("close", (CloseInput(), True))]


async def test_preload_notes_the_run_without_triggering(new_chat: NewChat) -> None:
    triggered: list[str] = []
    chat, backend = new_chat(client_data={"plan": "pro"}, on_triggered=triggered.append)

    ack = await chat.preload()

    assert backend.calls == [("preload", PreloadInput(agent="echo", client_data={"plan": "pro"}))]
    assert ack == PreloadAck(run_id="run-p", preloaded=True)
    assert chat.run_id == "run-p" and triggered == []


async def test_answers_reach_the_waiting_turn(new_chat: NewChat) -> None:
    chat, backend = new_chat()

    assert await chat.submit_tool_result("call-1", {"temp": 21}) == 3
    assert await chat.submit_tool_result("call-2", error="no GPS") == 3
    assert await chat.approve("ap-1") == 4
    assert await chat.deny("ap-2", "too risky") == 4
    assert await chat.deny("ap-3") == 4

    assert backend.calls == [
        ("submit_tool_result", ToolResultInput(tool_call_id="call-1", output={"temp": 21})),
        ("submit_tool_result", ToolResultInput(tool_call_id="call-2", error="no GPS")),
        ("answer_approval", ApprovalInput(approval_id="ap-1", approved=True)),
        ("answer_approval", ApprovalInput(approval_id="ap-2", approved=False, reason="too risky")),
        ("answer_approval", ApprovalInput(approval_id="ap-3", approved=False)),
    ]


async def test_backend_errors_reach_the_caller_unchanged(new_chat: NewChat) -> None:
    triggered: list[str] = []
    chat, backend = new_chat(on_triggered=triggered.append)
    backend.fail = NotPendingError("no tool call waits")
    with pytest.raises(NotPendingError, match="no tool call waits"):
        await chat.submit_tool_result("call-1")
    with pytest.raises(NotPendingError):
        await chat.send_message("hi")
    assert chat.run_id is None and triggered == []


# -- reading -----------------------------------------------------------------------------------


async def test_reconnect_resumes_from_the_session_cursor(new_chat: NewChat) -> None:
    chat, backend = new_chat(session=ChatSession(last_event_id="1001-2"))
    backend.entries = turn_entries(1, "m-1", "Echo: hi")

    stream = await chat.reconnect()
    assert await stream.text() == "Echo: hi"  # the delta after the cursor
    assert chat.session.last_event_id == backend.entries[-1].id  # kept current while read
    chat.session.last_event_id = None
    await chat.reconnect()

    assert backend.calls == [("reconnect", "1001-2"), ("reconnect", None)]


async def test_reconnect_refuses_a_bad_cursor_before_any_backend_call(new_chat: NewChat) -> None:
    chat, backend = new_chat(session=ChatSession(last_event_id="not-a-cursor"))
    with pytest.raises(InvalidCursorError, match="not-a-cursor"):
        await chat.reconnect()
    assert backend.calls == []


async def test_open_stream_follows_what_it_is_given(new_chat: NewChat) -> None:
    chat, backend = new_chat()
    backend.entries = turn_entries(1, "m-1", "Echo: hi") + turn_entries(2, "m-2", "Echo: two")
    follow = _Follow(user_message_id="m-2")

    stream = await chat.open_stream("1001-6", follow)

    assert backend.calls == [("open_stream", ("1001-6", follow))]
    assert await stream.text() == "Echo: two" and stream.turn == 2


async def test_history_and_status_come_from_the_backend(new_chat: NewChat) -> None:
    chat, backend = new_chat()
    assert [m.id for m in await chat.history()] == ["m-1", "a-1"]
    status = await chat.status()
    assert status is not None and status.message_turns == {"m-1": 1}
    assert backend.calls == [("history", None), ("status", None)]
    assert [m.id for m in await chat.history(thread="summary")] == ["a-1"]
    assert [m.id for m in await chat.history(thread="main")] == ["m-1", "a-1"]
    assert backend.calls[2:] == [("thread", "summary"), ("history", None)]


async def test_streams_take_the_timeout_and_the_backends_probe(new_chat: NewChat) -> None:
    chat, backend = new_chat(stream_timeout=0.2)
    # A turn that is never ours: the stream hears nothing of its own.
    backend.entries = [Entry("1000-0", {"k": "turn-start", "turn": 1, "userMessageId": "x"})]
    silent = await chat.send_message("hi")
    with pytest.raises(StreamTimeoutError, match=r"for 0\.2s"):
        await asyncio.wait_for(silent.text(), 5)

    asked: list[int | None] = []

    async def probe(turn: int | None) -> tuple[int, UIMessage] | None:
        asked.append(turn)
        return 1, ANSWER

    backend.probe = probe
    chat.stream_timeout = 0.6  # read when the stream is made, not when the chat was
    settled = await chat.send_message("hi")
    assert await asyncio.wait_for(settled.text(), 5) == "settled"
    assert asked == [None] and settled.turn == 1


async def test_the_record_calls_go_to_the_backend_checked(built: Built) -> None:
    chat = AgentChat("echo", "chat-1", owner="alice")
    [backend] = built
    assert backend.options["owner"] == "alice"
    assert (await chat.info()) == INFO
    assert (await chat.rename("Trip")).title == "Trip"
    assert (await chat.archive()).archived is True
    assert (await chat.set_metadata({"k": 1})).metadata == {"k": 1}
    assert await chat.delete() == DeleteChatResult(chat_id="c", existed=True)
    assert await chat.delete(wait=False) is None
    assert [name for name, _ in backend.calls] == [
        "info",
        "update",
        "update",
        "update",
        "delete",
        "delete",
    ]
    with pytest.raises(ValueError, match="title"):
        await chat.rename("  ")
    with pytest.raises(ValueError, match="metadata"):
        await chat.set_metadata(["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="owner"):
        AgentChat("echo", owner="x" * 201)
