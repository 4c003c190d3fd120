"""`anthropic:` against a loopback server speaking Anthropic's Messages streaming protocol."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from agentchat import Agent, AgentChat
from agentchat.errors import TurnFailedError
from agentchat.models import ModelRequest, ModelRequestError, StepFinish, resolve_model
from agentchat.models.anthropic import AnthropicModel
from agentchat.models.base import (
    ReasoningDelta,
    ReasoningEnd,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
)
from agentchat.models.base import _Retryable as ModelUnavailable
from agentchat.protocol.messages import UIMessage
from agentchat.testing import (
    FakeAnthropicServer,
    FakeRedactedThinking,
    FakeThinking,
    FakeToolCall,
)
from agentchat.tools import tool
from tests.conftest import StartWorker

NewChat = Callable[..., AgentChat]
CACHE = {"type": "ephemeral"}


@tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first.
        b: The second.
    """
    return a + b


def claude_agent(server: FakeAnthropicServer, **kwargs: Any) -> Agent:
    thinking = kwargs.pop("thinking_budget", None)
    model = AnthropicModel("claude-test", base_url=server.base_url, thinking_budget=thinking)
    return Agent(name="echo", model=model, **kwargs)


def scripted(server: FakeAnthropicServer, *replies: Any) -> None:
    """The model answers the n-th request with replies[n] (the last one from then on)."""
    left = list(replies)
    server.reply = lambda messages: left.pop(0) if len(left) > 1 else left[0]


def request(text: str, instructions: str | None = None) -> ModelRequest:
    return ModelRequest(
        instructions, [UIMessage(id="u", role="user", parts=[{"type": "text", "text": text}])]
    )


async def events_of(model: AnthropicModel, req: ModelRequest) -> list[Any]:
    return [e async for e in model.stream(req)]


# -- the model alone, over HTTP ----------------------------------------------------------------


async def test_the_model_string_honours_the_environment(
    monkeypatch: pytest.MonkeyPatch, claude: FakeAnthropicServer
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", claude.base_url)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    model = resolve_model("anthropic:claude-test")
    assert isinstance(model, AnthropicModel)
    events = await events_of(model, request("ping", "Be brief."))
    await model.aclose()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Echo: ping"
    usage = claude.usage[0]
    written = usage["cache_creation_input_tokens"]
    assert written > 0  # the system prompt and the message were cached
    assert events[-1] == StepFinish(
        "stop", input_tokens=usage["input_tokens"] + written, output_tokens=2, cached_tokens=0
    )
    body = claude.requests[-1]
    assert body["model"] == "claude-test" and body["stream"] is True
    assert body["max_tokens"] == 8192
    assert body["system"] == [{"type": "text", "text": "Be brief.", "cache_control": CACHE}]


async def test_tool_input_streams_and_thinking_keeps_its_signature(
    claude: FakeAnthropicServer,
) -> None:
    scripted(
        claude,
        [
            FakeThinking("I should add"),
            FakeRedactedThinking("opaque"),
            "Adding.",
            FakeToolCall("add", '{"a": 1, "b": 2}', "toolu_1"),
        ],
    )
    model = AnthropicModel("claude-test", base_url=claude.base_url, thinking_budget=1024)
    events = await events_of(model, request("1+2?"))
    await model.aclose()
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        *["ReasoningDelta"] * 3,
        "ReasoningEnd",
        "ReasoningEnd",
        *["TextDelta"],
        "ToolCallStart",
        "ToolCallDelta",
        "ToolCallDelta",
        "ToolCall",
        "StepFinish",
    ]
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "I should add"
    ends = [e for e in events if isinstance(e, ReasoningEnd)]
    assert ends[0].provider_metadata == {"anthropic": {"signature": claude.signatures[0]}}
    assert ends[1].provider_metadata == {"anthropic": {"redactedData": "opaque"}}
    assert [e for e in events if isinstance(e, ToolCallStart)] == [ToolCallStart("toolu_1", "add")]
    assert "".join(e.text for e in events if isinstance(e, ToolCallDelta)) == '{"a": 1, "b": 2}'
    assert ToolCall("toolu_1", "add", '{"a": 1, "b": 2}') in events
    finish = events[-1]
    assert isinstance(finish, StepFinish) and finish.finish_reason == "tool-calls"
    assert finish.reasoning_tokens == 3 and finish.output_tokens == claude.usage[0]["output_tokens"]
    assert claude.requests[0]["thinking"] == {"type": "enabled", "budget_tokens": 1024}


async def test_the_settled_prompt_is_read_from_the_cache(claude: FakeAnthropicServer) -> None:
    model = AnthropicModel("claude-test", base_url=claude.base_url)
    long = "a question with enough words to be worth caching " * 20
    first = (await events_of(model, request(long, "Be brief.")))[-1]
    assert isinstance(first, StepFinish) and first.cached_tokens == 0
    again = ModelRequest(
        "Be brief.",
        [
            UIMessage(id="u", role="user", parts=[{"type": "text", "text": long}]),
            UIMessage(id="a", role="assistant", parts=[{"type": "text", "text": "Yes."}]),
            UIMessage(id="u2", role="user", parts=[{"type": "text", "text": "more"}]),
        ],
    )
    second = (await events_of(model, again))[-1]
    await model.aclose()
    usage = claude.usage[1]
    assert isinstance(second, StepFinish)
    assert second.cached_tokens == usage["cache_read_input_tokens"] > 0
    assert second.input_tokens == (
        usage["input_tokens"]
        + usage["cache_read_input_tokens"]
        + usage["cache_creation_input_tokens"]
    )
    marked = [
        b for m in claude.requests[1]["messages"] for b in m["content"] if "cache_control" in b
    ]
    assert [b["text"] for b in marked] == [long, "more"]


@pytest.mark.parametrize(
    ("error", "kind"),
    [("overloaded_error", ModelUnavailable), ("invalid_request_error", ModelRequestError)],
)
async def test_an_error_event_mid_stream(
    claude: FakeAnthropicServer, error: str, kind: type[Exception]
) -> None:
    claude.reply = lambda messages: "one two three four"
    claude.stream_errors = [error]
    model = AnthropicModel("claude-test", base_url=claude.base_url)
    seen: list[Any] = []
    with pytest.raises(kind, match=error):
        async for event in model.stream(request("go")):
            seen.append(event)
    await model.aclose()
    assert [e.text for e in seen] == ["one", " two"]  # it broke off halfway


# -- through a worker and Temporal -------------------------------------------------------------


async def test_streamed_text_end_to_end(
    start_worker: StartWorker, new_chat: NewChat, claude: FakeAnthropicServer
) -> None:
    await start_worker(claude_agent(claude, instructions="Be terse."))
    chat = new_chat()
    stream = await chat.send_message("hello there")
    types = [c.type async for c in stream]
    assert (await stream.result()).text == "Echo: hello there"
    assert types[:3] == ["start", "start-step", "text-start"]
    assert types[-3:] == ["text-end", "finish-step", "finish"]
    assert await (await chat.send_message("again")).text() == "Echo: again"
    sent = claude.requests[-1]
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][1]["content"] == [{"type": "text", "text": "Echo: hello there"}]
    # The second turn read the first turn's prompt from the cache.
    assert claude.usage[-1]["cache_read_input_tokens"] > 0
    history = await chat.history()
    assert [m.text() for m in history] == [
        "hello there",
        "Echo: hello there",
        "again",
        "Echo: again",
    ]


async def test_a_tool_call_with_streamed_input_then_the_follow_up_step(
    start_worker: StartWorker, new_chat: NewChat, claude: FakeAnthropicServer
) -> None:
    scripted(claude, ["Let me add.", FakeToolCall("add", '{"a": 2, "b": 3}', "toolu_1")], "5.")
    await start_worker(claude_agent(claude, tools=[add]))
    stream = await new_chat().send_message("2+3?")
    chunks = [c async for c in stream]
    types = [c.type for c in chunks]
    result = await stream.result()
    assert result.text == "Let me add.5."
    assert types.count("start-step") == 2 and types.count("tool-input-delta") == 2
    start = types.index("tool-input-start")
    assert types[start : start + 4] == [
        "tool-input-start",
        "tool-input-delta",
        "tool-input-delta",
        "tool-input-available",
    ]
    assert result.tool_results[0]["output"] == 5
    follow_up = claude.requests[1]
    assert follow_up["tools"][0]["name"] == "add"
    assert follow_up["messages"][1]["content"][-1] == {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "add",
        "input": {"a": 2, "b": 3},
    }
    assert follow_up["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "5", "cache_control": CACHE}
    ]


async def test_thinking_streams_as_reasoning_and_goes_back_signed(
    start_worker: StartWorker, new_chat: NewChat, claude: FakeAnthropicServer
) -> None:
    scripted(
        claude,
        [FakeThinking("two plus three"), FakeToolCall("add", '{"a": 2, "b": 3}', "toolu_1")],
        [FakeThinking("it is five"), "5."],
    )
    await start_worker(claude_agent(claude, tools=[add], thinking_budget=1024))
    chat = new_chat()
    stream = await chat.send_message("2+3?")
    chunks = [c.to_wire() async for c in stream]
    assert (await stream.result()).text == "5."
    reasoning = [c for c in chunks if c["type"].startswith("reasoning-")]
    kinds = [c["type"] for c in reasoning]
    # Deltas are coalesced on the way (the stream writer's 20 ms batches): one or more each.
    assert [k for i, k in enumerate(kinds) if not i or k != kinds[i - 1]] == [
        "reasoning-start",
        "reasoning-delta",
        "reasoning-end",
    ] * 2
    ends = [c for c in reasoning if c["type"] == "reasoning-end"]
    signature = claude.signatures[0]
    assert [e["providerMetadata"]["anthropic"]["signature"] for e in ends] == claude.signatures
    assert "".join(c.get("delta", "") for c in reasoning) == "two plus threeit is five"
    # The follow-up step sent the thinking back verbatim before the tool use (the server
    # refuses it otherwise), and so does the next turn.
    thinking = {"type": "thinking", "thinking": "two plus three", "signature": signature}
    assert claude.requests[1]["messages"][1]["content"][0] == thinking
    history = await chat.history()
    parts = [p for p in history[1].parts if p["type"] == "reasoning"]
    assert parts[0] == {
        "type": "reasoning",
        "text": "two plus three",
        "state": "done",
        "providerMetadata": {"anthropic": {"signature": signature}},
    }
    claude.reply = lambda messages: "ok"
    assert await (await chat.send_message("thanks")).text() == "ok"
    assert thinking in claude.requests[-1]["messages"][1]["content"]


async def test_rate_limits_wait_for_retry_after_and_overload_is_retried(
    start_worker: StartWorker, new_chat: NewChat, claude: FakeAnthropicServer
) -> None:
    claude.failures = [429, 529]
    claude.retry_after = "1"
    await start_worker(claude_agent(claude))
    began = time.monotonic()
    stream = await new_chat().send_message("retry me")
    assert await stream.text() == "Echo: retry me"
    assert time.monotonic() - began >= 1.8  # two waits of retry-after's one second
    assert len(claude.requests) == 3


async def test_a_bad_request_fails_the_turn_without_retrying(
    start_worker: StartWorker, new_chat: NewChat, claude: FakeAnthropicServer
) -> None:
    claude.failures = [400]
    await start_worker(claude_agent(claude))
    chat = new_chat()
    stream = await chat.send_message("hi")
    assert [c.type async for c in stream] == ["start", "start-step", "error"]
    with pytest.raises(TurnFailedError, match=r"anthropic:claude-test refused the request \(400\)"):
        await stream.result()
    assert len(claude.requests) == 1
    assert await (await chat.send_message("again")).text() == "Echo: again"


@pytest.mark.parametrize("failure", ["error event", "connection cut"])
async def test_a_broken_stream_is_retried_and_replaced(
    start_worker: StartWorker, new_chat: NewChat, claude: FakeAnthropicServer, failure: str
) -> None:
    answer = " ".join(f"w{i}" for i in range(12))
    claude.reply = lambda messages: answer
    if failure == "error event":
        claude.stream_errors = ["overloaded_error"]
    else:
        claude.cut_after = [5]
    await start_worker(claude_agent(claude))
    stream = await new_chat().send_message("go")
    chunks = [c async for c in stream]
    assert await stream.result() is not None
    assert "".join(getattr(c, "delta", "") for c in chunks if c.type == "text-delta").endswith(
        answer
    )
    assert (await stream.result()).text == answer  # the broken attempt's tokens are dropped
    assert any(c.type == "reset-step" for c in chunks)
    assert len(claude.requests) == 2


async def test_stop_ends_the_answer_and_keeps_the_partial(
    start_worker: StartWorker, new_chat: NewChat, claude: FakeAnthropicServer
) -> None:
    claude.token_delay = 0.05
    claude.reply = lambda messages: [FakeThinking("hmm " * 3), " ".join(["token"] * 400)]
    await start_worker(claude_agent(claude, thinking_budget=1024))
    chat = new_chat()
    stream = await chat.send_message("talk a lot")
    types: list[str] = []
    async for chunk in stream:
        types.append(chunk.type)
        if chunk.type == "text-delta" and types.count("text-delta") == 3:
            assert await chat.stop() == 1
    assert types[-1] == "abort" and "finish" not in types
    result = await stream.result()
    assert result.status == "stopped"
    assert 0 < len(result.text.split()) < 100
    history = await chat.history()
    assert history[1].text() == result.text
    claude.reply = lambda messages: "fine"
    assert await (await chat.send_message("still there?")).text() == "fine"


async def test_a_steer_joins_the_running_turn_as_user_text(
    start_worker: StartWorker, new_chat: NewChat, claude: FakeAnthropicServer
) -> None:
    claude.token_delay = 0.05
    claude.reply = lambda messages: (
        "Adjusted."
        if messages[-1]["content"][-1].get("text") == "Focus on security"
        else "A long answer " + " ".join(["word"] * 30)
    )
    await start_worker(claude_agent(claude))
    chat = new_chat()
    stream = await chat.send_message("Review PR 42")
    steered = False
    async for chunk in stream:
        if chunk.type == "text-delta" and not steered:
            steered = True
            assert (await chat.steer("Focus on security")).injected
    assert (await stream.result()).text.endswith("Adjusted.")
    last = claude.requests[-1]["messages"]
    assert [m["role"] for m in last] == ["user", "assistant", "user"]
    assert last[1]["content"][0]["text"].startswith("A long answer")
    assert last[2]["content"] == [
        {"type": "text", "text": "Focus on security", "cache_control": CACHE}
    ]


async def test_worker_killed_mid_answer_resumes_with_one_coherent_answer(
    worker_process: Callable[..., Any], new_chat: NewChat, claude: FakeAnthropicServer
) -> None:
    answer = " ".join(f"w{i}" for i in range(80))
    claude.reply = lambda messages: answer
    claude.token_delay = 0.04
    env = {"ANTHROPIC_BASE_URL": claude.base_url}
    agents = "tests.models.anthropic_agents:all"
    first = worker_process(env=env, agents=agents)
    await first.wait_ready()
    chat = new_chat(agent="claude")
    stream = await chat.send_message("Tell me a long story")
    chunks: list[Any] = []
    killed = False
    async for chunk in stream:
        chunks.append(chunk)
        if not killed and sum(c.type == "text-delta" for c in chunks) >= 5:
            first.kill()  # SIGKILL: no goodbye, the heartbeat timeout notices
            killed = True
            claude.token_delay = 0.0
            worker_process(env=env, agents=agents)
    result = await asyncio.wait_for(stream.result(), 60)
    assert result.text == answer
    assert any(c.type == "reset-step" for c in chunks)
    history = await chat.history()
    assert [m.role for m in history] == ["user", "assistant"]
    assert history[1].text() == answer
