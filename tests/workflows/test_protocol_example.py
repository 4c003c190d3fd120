"""The support example (examples/support), loaded from its protocol folder and run end to end:
real Temporal, Redis and a loopback model."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from agentchat import Agent, AgentChat
from agentchat.models.openai import OpenAIModel
from agentchat.protocol.chunks import DataChunk
from agentchat.testing import FakeOpenAIServer
from examples.support.agent import FOLDER
from examples.support.tools import tools
from tests.conftest import StartWorker

NewChat = Callable[..., AgentChat]

SUMMARY = "The customer cannot log in and wants a person."


def reply(messages: list[dict[str, Any]]) -> str:
    system = str(messages[0]["content"]) if messages[0]["role"] == "system" else ""
    last = str(messages[-1]["content"])
    if system.startswith("You summarise customer support conversations"):
        return SUMMARY
    if last.startswith("A support ticket has been created"):
        ticket = json.loads(last.split("\n\n")[1])
        return f"Ticket {ticket['ticketId']} is open: a person replies within 24 hours."
    return f"Echo: {last}"


async def test_request_human_summarises_in_its_thread_and_opens_a_ticket(
    start_worker: StartWorker, new_chat: NewChat, model_server: FakeOpenAIServer
) -> None:
    model_server.reply = reply
    agent = Agent.from_protocol(
        FOLDER, tools=tools, model=OpenAIModel("gpt-test", base_url=model_server.base_url)
    )
    await start_worker(agent)
    chat = new_chat(agent="support", inputs={"COMPANY_NAME": "Initech", "USER_ID": "u-7"})

    # user-message is the built-in path: the message as written, then the answer.
    assert await (await chat.send_message("I cannot log in")).text() == "Echo: I cannot log in"
    system = model_server.requests[-1]["messages"][0]["content"]
    assert system.startswith("You are a friendly support agent for Initech.")
    assert "(user id: u-7)" in system and "Acme Cloud" in system  # a default input

    stream = await chat.trigger("request-human", {})
    chunks = [c async for c in stream]
    result = await stream.result()
    assert result.text.startswith("Ticket TKT-") and "24 hours" in result.text

    # The summary thread wrote the resource, and the ticket tool ran with it.
    resources = await chat.resources()
    assert resources == {"CONVERSATION_SUMMARY": SUMMARY}
    changes = [c.data for c in chunks if isinstance(c, DataChunk) and c.type == "data-resource"]
    assert changes == [{"name": "CONVERSATION_SUMMARY", "value": SUMMARY}]
    summarising = [
        r for r in model_server.requests
        if str(r["messages"][0]["content"]).startswith("You summarise")
    ]  # fmt: skip
    [summary_request] = summarising
    assert summary_request["messages"][0]["content"].startswith(
        "You summarise customer support conversations of Initech"
    )
    asked = str(summary_request["messages"][-1]["content"])
    assert asked.startswith("Summarise this conversation for the human agent:")
    assert "I cannot log in" in asked  # the serialized main thread
    final = model_server.requests[-1]["messages"]
    directive = str(final[-1]["content"])
    assert directive.startswith("A support ticket has been created for a human agent:")
    ticket = json.loads(directive.split("\n\n")[1])
    assert ticket["priority"] == "medium" and ticket["customer"] == "u-7"

    # The summary thread's messages never reached the main thread's prompts.
    for request in model_server.requests:
        if request is summary_request:
            continue
        text = json.dumps(request["messages"])
        assert "Summarise this conversation" not in text
        assert SUMMARY not in text
        assert "You summarise" not in text

    # Nor its history; the hidden directive is there, marked hidden.
    history = await chat.history()
    flat = json.dumps([m.model_dump(mode="json") for m in history])
    assert "Summarise this conversation" not in flat and SUMMARY not in flat
    assert history[-2].metadata == {"hidden": True}
    assert history[-1].role == "assistant"
