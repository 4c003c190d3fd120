"""Token usage end to end, budgets, and generated titles, against the loopback model servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agentchat import Agent, AgentChat, Settings
from agentchat import metrics as agent_metrics
from agentchat.connections import get_store
from agentchat.errors import TokenBudgetExceededError, TurnFailedError
from agentchat.models.anthropic import AnthropicModel
from agentchat.models.openai import OpenAIModel
from agentchat.protocol.chunks import Chunk, DataChunk, ErrorChunk, FinishChunk
from agentchat.protocol.contracts import TokenUsage
from agentchat.testing import FakeAnthropicServer, FakeOpenAIServer
from agentchat.testing.anthropic_server import FakeThinking
from agentchat.testing.openai_server import FakeToolCall
from agentchat.tools import tool
from tests.conftest import StartWorker

NewChat = Callable[..., AgentChat]


@pytest.fixture(scope="module")
async def anthropic_server() -> AsyncIterator[FakeAnthropicServer]:
    server = await FakeAnthropicServer().start()
    yield server
    await server.stop()


@pytest.fixture
def claude(anthropic_server: FakeAnthropicServer) -> FakeAnthropicServer:
    anthropic_server.reset()
    return anthropic_server


ran: list[str] = []


@tool
async def lookup(q: str) -> str:
    """Look something up.

    Args:
        q: What to look up.
    """
    ran.append(q)
    return f"found {q}"


def usage_of(reported: list[dict[str, Any]]) -> TokenUsage:
    """What the OpenAI fake reported, summed as agentchat sums it."""
    total = TokenUsage()
    for u in reported:
        total.add(
            TokenUsage(
                input_tokens=u["prompt_tokens"],
                output_tokens=u["completion_tokens"],
                cached_tokens=(u.get("prompt_tokens_details") or {}).get("cached_tokens", 0),
                reasoning_tokens=(u.get("completion_tokens_details") or {}).get(
                    "reasoning_tokens", 0
                ),
                calls=1,
            )
        )
    return total


def anthropic_usage_of(reported: list[dict[str, Any]]) -> TokenUsage:
    total = TokenUsage()
    for u in reported:
        read = u.get("cache_read_input_tokens", 0)
        total.add(
            TokenUsage(
                input_tokens=u["input_tokens"] + read + u.get("cache_creation_input_tokens", 0),
                output_tokens=u["output_tokens"],
                cached_tokens=read,
                reasoning_tokens=(u.get("output_tokens_details") or {}).get("thinking_tokens", 0),
                calls=1,
            )
        )
    return total


def tool_then_answer(messages: list[dict[str, Any]]) -> str | list[FakeToolCall]:
    if messages[-1]["role"] == "tool":
        return "the answer is here"
    return [FakeToolCall("lookup", '{"q": "bread"}')]


def token_count(agent: str, model: str, kind: str) -> float:
    from prometheus_client import REGISTRY

    value = REGISTRY.get_sample_value(
        "agentchat_tokens_total", {"agent": agent, "model": model, "kind": kind}
    )
    return value or 0.0


async def read_all(stream: Any) -> list[Chunk]:
    return [chunk async for chunk in stream]


async def test_usage_is_summed_per_step_turn_and_chat_everywhere(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
    settings: Settings,
) -> None:
    agent_metrics.enable()
    model_server.count_tokens = True
    model_server.cached_tokens = 3
    model_server.reasoning_tokens = 2
    model_server.reply = tool_then_answer
    agent = Agent(
        name="counted",
        model=OpenAIModel("gpt-usage", base_url=model_server.base_url),
        tools=[lookup],
    )
    await start_worker(agent)
    before = {k: token_count("counted", "openai:gpt-usage", k) for k in ("input", "output")}
    chat = new_chat(agent="counted")

    first = await chat.send_message("bake bread")
    chunks = await read_all(first)
    result = await first.result()
    assert len(model_server.usage) == 2  # two steps: the tool call, then the answer
    turn_one = usage_of(model_server.usage)
    assert result.usage == turn_one and result.chat_usage == turn_one
    assert turn_one.cached_tokens == 6 and turn_one.reasoning_tokens == 4
    finish = [c for c in chunks if isinstance(c, FinishChunk)]
    assert finish[0].message_metadata == {
        "usage": turn_one.wire(),
        "chatUsage": turn_one.wire(),
    }
    assert result.message.metadata == finish[0].message_metadata

    second = await chat.send_message("again")
    result = await second.result()
    turn_two = usage_of(model_server.usage[2:])
    chat_total = usage_of(model_server.usage)
    assert result.usage == turn_two and result.chat_usage == chat_total
    # The provider counted the second turn's prompts bigger: they carry the first turn.
    assert turn_two.input_tokens > turn_one.input_tokens

    store = await get_store(settings)
    rows = await store.load_messages(chat.id)
    assert [r.usage for r in rows] == [None, turn_one.wire(), None, turn_two.wire()]
    record = await store.get_chat(chat.id)
    assert record is not None
    assert TokenUsage.model_validate(record.state["usage"]) == chat_total
    after = {k: token_count("counted", "openai:gpt-usage", k) for k in ("input", "output")}
    assert after["input"] - before["input"] == chat_total.input_tokens
    assert after["output"] - before["output"] == chat_total.output_tokens
    assert token_count("counted", "openai:gpt-usage", "cached") >= 12
    assert token_count("counted", "openai:gpt-usage", "reasoning") >= 8


async def test_anthropic_usage_with_cache_reads_and_thinking(
    start_worker: StartWorker, new_chat: NewChat, claude: FakeAnthropicServer
) -> None:
    claude.reply = lambda messages: [FakeThinking("let me think"), "Here you go"]
    model = AnthropicModel("claude-usage", base_url=claude.base_url, thinking_budget=1024)
    await start_worker(Agent(name="claudia", model=model, instructions="Be brief. " * 100))
    chat = new_chat(agent="claudia")
    first = await (await chat.send_message("hello")).result()
    second = await (await chat.send_message("and again")).result()
    assert len(claude.usage) == 2
    one, two = anthropic_usage_of(claude.usage[:1]), anthropic_usage_of(claude.usage[1:])
    assert first.usage == one and second.usage == two
    assert second.chat_usage == anthropic_usage_of(claude.usage)
    assert two.cached_tokens > 0  # the second prompt read the cached system prompt
    assert one.reasoning_tokens > 0


async def test_a_turn_budget_ends_the_turn_and_keeps_the_partial_answer(
    start_worker: StartWorker,
    new_chat: NewChat,
    claude: FakeAnthropicServer,
    settings: Settings,
) -> None:
    claude.reply = lambda messages: ["Let me look that up.", FakeToolCall("lookup", '{"q": "x"}')]
    model = AnthropicModel("claude-budget", base_url=claude.base_url)
    await start_worker(Agent(name="frugal", model=model, tools=[lookup], max_tokens_per_turn=5))
    ran.clear()
    chat = new_chat(agent="frugal")
    stream = await chat.send_message("find x")
    chunks = await read_all(stream)
    with pytest.raises(TokenBudgetExceededError) as raised:
        await stream.result()
    error = raised.value
    assert isinstance(error, TurnFailedError)
    used = anthropic_usage_of(claude.usage).total_tokens
    assert (error.budget, error.limit, error.used) == ("max_tokens_per_turn", 5, used)
    errors = [c for c in chunks if isinstance(c, ErrorChunk)]
    assert len(errors) == 1
    assert "max_tokens_per_turn is 5" in errors[0].error_text
    assert f"used {used:,} tokens" in errors[0].error_text
    assert ran == []  # the step's tool call was not run: the turn ended first
    assert len(claude.requests) == 1
    history = await chat.history()
    assert history[1].text() == "Let me look that up."
    assert history[1].metadata is not None
    assert history[1].metadata["errorType"] == "TokenBudgetExceededError"
    rows = await (await get_store(settings)).load_messages(chat.id)
    assert "Let me look that up." in str(rows[1].message)
    # The next turn has a budget of its own (which it exceeds too), and its prompt closes the
    # call that never ran with an error result: the server, as Anthropic, refuses a tool_use
    # without its tool_result.
    claude.reply = lambda messages: "ok"
    with pytest.raises(TokenBudgetExceededError):
        await (await chat.send_message("hi")).result()
    assert len(claude.requests) == 2
    assert (await chat.history())[3].text() == "ok"


async def test_a_spent_chat_budget_refuses_the_next_turn_before_any_step(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    # Each turn: 10 prompt tokens + 2 ("Echo: hi") = 12; the budget is 30.
    echo = OpenAIModel("gpt-budget", base_url=model_server.base_url)
    await start_worker(Agent(name="capped", model=echo, max_tokens_per_chat=30))
    chat = new_chat(agent="capped")
    assert (await (await chat.send_message("hi")).result()).chat_usage == TokenUsage(
        input_tokens=10, output_tokens=2, calls=1
    )
    await (await chat.send_message("hi")).text()
    over = await chat.send_message("hi")
    with pytest.raises(TokenBudgetExceededError) as raised:
        await over.result()
    assert raised.value.used == 36 and raised.value.limit == 30
    assert len(model_server.requests) == 3
    refused = await chat.send_message("one more?")
    chunks = await read_all(refused)
    with pytest.raises(TokenBudgetExceededError, match="no more turns") as again:
        await refused.result()
    assert again.value.budget == "max_tokens_per_chat"
    assert len(model_server.requests) == 3  # refused before any step
    assert [c.type for c in chunks if c.type in ("error", "finish")] == ["error"]
    history = await chat.history()
    assert history[5].text() == "Echo: hi"  # the over-budget turn's answer is kept
    assert history[-1].metadata is not None and history[-1].metadata["status"] == "failed"


def titled_reply(messages: list[dict[str, Any]]) -> str:
    system = messages[0]["content"] if messages[0]["role"] == "system" else ""
    if "title" in system:
        return "Bread Baking Basics"
    return f"Echo: {messages[-1]['content']}"


async def test_a_title_is_generated_after_the_first_turn_and_streamed(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
) -> None:
    model_server.reply = titled_reply
    model = OpenAIModel("gpt-title", base_url=model_server.base_url)
    await start_worker(Agent(name="titled", model=model, title=True))
    chat = new_chat(agent="titled")
    stream = await chat.send_message("how do I bake bread at home?")
    chunks = await read_all(stream)
    titles = [c for c in chunks if isinstance(c, DataChunk) and c.type == "data-title"]
    assert [t.data for t in titles] == [{"title": "Bread Baking Basics"}]
    result = await stream.result()
    assert result.text == "Echo: how do I bake bread at home?"
    assert not any(p["type"] == "data-title" for p in result.message.parts)  # transient
    assert (await chat.info()).title == "Bread Baking Basics"
    assert result.chat_usage is not None and result.usage is not None
    assert result.chat_usage.calls == 2  # the answer and the title
    second = await chat.send_message("and rye?")
    assert not [c for c in await read_all(second) if c.type == "data-title"]
    assert len(model_server.requests) == 3  # one title, once


async def test_a_failing_title_step_fails_nothing(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
) -> None:
    def broken_title(messages: list[dict[str, Any]]) -> str:
        if messages[0]["role"] == "system":
            raise ConnectionResetError("the title model is down")
        return "fine"

    model_server.reply = broken_title
    model = OpenAIModel("gpt-title", base_url=model_server.base_url)
    await start_worker(Agent(name="untitled", model=model, title="Name this chat"))
    chat = new_chat(agent="untitled")
    stream = await chat.send_message("first words")
    chunks = await read_all(stream)
    result = await stream.result()
    assert result.status == "completed" and result.text == "fine"
    assert not [c for c in chunks if c.type == "data-title"]
    assert len(model_server.requests) == 4  # the answer, then three title attempts
    assert (await chat.info()).title == "first words"  # the default title stays


async def test_a_chat_renamed_meanwhile_keeps_its_name(
    start_worker: StartWorker,
    new_chat: NewChat,
    model_server: FakeOpenAIServer,
) -> None:
    model_server.reply = titled_reply
    model_server.token_delay = 0.05
    model = OpenAIModel("gpt-title", base_url=model_server.base_url)
    await start_worker(Agent(name="titled", model=model, title=True))
    chat = new_chat(agent="titled")
    stream = await chat.send_message("one two three four five six")
    chunks: list[Chunk] = []
    async for chunk in stream:
        chunks.append(chunk)
        if chunk.type == "text-delta" and len(chunks) < 6:
            await chat.rename("My own name")
    assert not [c for c in chunks if c.type == "data-title"]
    assert (await chat.info()).title == "My own name"
