"""Providers against a loopback server speaking OpenAI's streaming protocol."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agentchat import Agent, AgentChat
from agentchat.errors import ConfigurationError, TurnFailedError
from agentchat.models import OfflineModel, resolve_model, to_chat_messages
from agentchat.models.base import _Retryable as ModelUnavailable
from agentchat.models.openai import OpenAIModel
from agentchat.protocol.messages import UIMessage
from agentchat.testing import FakeOpenAIServer
from tests.conftest import StartWorker

NewChat = Callable[..., AgentChat]


async def test_client_error_fails_the_turn_without_retrying(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    model_server.failures = [401]
    model = OpenAIModel("gpt-test", base_url=model_server.base_url, api_key="sk-bad")
    await start_worker(Agent(name="echo", model=model))
    chat = new_chat()
    stream = await chat.send_message("hi")
    types = [c.type async for c in stream]
    assert types == ["start", "start-step", "error"]
    with pytest.raises(TurnFailedError, match="401"):
        await stream.result()
    assert len(model_server.requests) == 1  # 4xx: not retried
    history = await chat.history()
    assert history[1].metadata is not None and history[1].metadata["status"] == "failed"
    # The chat survives a failed turn.
    assert await (await chat.send_message("again")).text() == "Echo: again"


async def test_server_errors_are_retried_by_temporal(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    model_server.failures = [500, 503]
    model = OpenAIModel("gpt-test", base_url=model_server.base_url)
    await start_worker(Agent(name="echo", model=model))
    stream = await new_chat().send_message("retry me")
    assert await stream.text() == "Echo: retry me"
    assert len(model_server.requests) == 3


async def test_a_stream_that_breaks_off_is_retried_and_replaced(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    answer = " ".join(f"w{i}" for i in range(12))
    model_server.reply = lambda messages: answer
    model_server.cut_after = [5]
    model = OpenAIModel("gpt-test", base_url=model_server.base_url)
    await start_worker(Agent(name="echo", model=model))
    stream = await new_chat().send_message("go")
    assert await stream.text() == answer  # the cut attempt's five tokens are dropped
    assert len(model_server.requests) == 2
    with pytest.raises(ModelUnavailable, match="stream broke off"):
        model_server.cut_after = [2]
        async for _ in model.stream(_request("direct")):
            pass


async def test_openai_model_string_honours_the_environment(
    monkeypatch: pytest.MonkeyPatch, model_server: FakeOpenAIServer
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", model_server.base_url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = resolve_model("openai:gpt-4o-mini")
    assert isinstance(model, OpenAIModel)
    events = [e async for e in model.stream(_request("ping"))]
    await model.aclose()
    assert "".join(getattr(e, "text", "") for e in events) == "Echo: ping"
    assert model_server.requests[-1]["model"] == "gpt-4o-mini"
    assert model_server.requests[-1]["stream"] is True


async def test_openai_request_body_carries_conversation_and_tools_verbatim(
    model_server: FakeOpenAIServer,
) -> None:
    # They travel in `extra_body`, past the SDK's type-driven request walk (see OpenAIModel).
    from agentchat.models import ModelRequest
    from agentchat.models.base import ToolDefinition

    parameters = {"type": "object", "properties": {"a": {"type": "number"}}}
    messages = [
        UIMessage(id="u1", role="user", parts=[{"type": "text", "text": "one"}]),
        UIMessage(id="a1", role="assistant", parts=[{"type": "text", "text": "two"}]),
        UIMessage(id="u2", role="user", parts=[{"type": "text", "text": "three"}]),
    ]
    request = ModelRequest("Be brief.", messages, None, [ToolDefinition("add", "Add.", parameters)])
    model = OpenAIModel("gpt-test", base_url=model_server.base_url)
    events = [e async for e in model.stream(request)]
    await model.aclose()
    assert "".join(getattr(e, "text", "") for e in events) == "Echo: three"
    body = model_server.requests[-1]
    assert body["messages"] == to_chat_messages("Be brief.", messages)
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "add", "description": "Add.", "parameters": parameters},
        }
    ]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_unknown_model_strings_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="unknown model string 'gpt-4'"):
        resolve_model("gpt-4")
    with pytest.raises(ConfigurationError, match="tokens per second"):
        resolve_model("offline:fast")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        resolve_model("openai:gpt-4o")


async def test_offline_model_is_deterministic() -> None:
    model = OfflineModel(tokens_per_second=0, first_token_delay=0)
    first = [e async for e in model.stream(_request("hello"))]
    second = [e async for e in model.stream(_request("hello"))]
    assert first == second
    assert isinstance(resolve_model("offline:100"), OfflineModel)


def test_steer_parts_become_user_messages_for_the_model() -> None:
    transcript = [
        UIMessage(id="u", role="user", parts=[{"type": "text", "text": "review"}]),
        UIMessage(
            id="a",
            role="assistant",
            parts=[
                {"type": "step-start"},
                {"type": "text", "text": "Looking"},
                {"type": "data-steer", "id": "s", "data": {"text": "security only"}},
                {"type": "step-start"},
                {"type": "text", "text": "Security is fine"},
            ],
        ),
        UIMessage(id="b", role="assistant", parts=[]),
    ]
    assert to_chat_messages("sys", transcript) == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "review"},
        {"role": "assistant", "content": "Looking"},
        {"role": "user", "content": "security only"},
        {"role": "assistant", "content": "Security is fine"},
    ]


def _request(text: str):  # type: ignore[no-untyped-def]
    from agentchat.models import ModelRequest

    return ModelRequest(
        None, [UIMessage(id="u", role="user", parts=[{"type": "text", "text": text}])]
    )
