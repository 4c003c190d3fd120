"""Files reach each provider in its own format, loaded from the blob store inside the LLM step,
and files an agent or its model refuses fail the turn before the model is called."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentchat import Agent, AgentChat, Settings
from agentchat.errors import TurnFailedError
from agentchat.files import FilePolicy
from agentchat.models.anthropic import AnthropicModel
from agentchat.models.openai import OpenAIModel
from agentchat.testing import FakeAnthropicServer, FakeOpenAIServer
from tests.conftest import StartWorker

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
PDF = b"%PDF-1.4\n" + b"x" * 100 + b"\n%%EOF"
NewChat = Callable[..., AgentChat]


def user_texts(messages: list[dict[str, Any]]) -> str:
    return json.dumps([m for m in messages if m.get("role") == "user"])


async def test_openai_gets_images_as_image_url_and_pdfs_as_files(
    model_server: FakeOpenAIServer,
    start_worker: StartWorker,
    new_chat: NewChat,
    tmp_path: Path,
) -> None:
    model_server.reply = lambda messages: "I see a cat and a report."
    await start_worker(
        Agent(name="seer", model=OpenAIModel("gpt-test", base_url=model_server.base_url))
    )
    (tmp_path / "report.pdf").write_bytes(PDF)
    chat = new_chat("seer")
    stream = await chat.send_message(
        "what are these?", files=[(PNG, "image/png", "cat.png"), tmp_path / "report.pdf"]
    )
    assert await stream.text() == "I see a cat and a report."
    [request] = model_server.requests
    content = request["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "what are these?"}
    png = base64.b64encode(PNG).decode()
    assert content[1] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}}
    pdf = base64.b64encode(PDF).decode()
    assert content[2] == {
        "type": "file",
        "file": {"filename": "report.pdf", "file_data": f"data:application/pdf;base64,{pdf}"},
    }
    # The transcript keeps references only: no bytes in workflow state or the store.
    [user, _] = await chat.history()
    files = [p for p in user.parts if p["type"] == "file"]
    assert [(p["mediaType"], p.get("filename")) for p in files] == [
        ("image/png", "cat.png"),
        ("application/pdf", "report.pdf"),
    ]
    assert all(
        p["url"] == f"/v1/chats/{chat.id}/files/{p['providerMetadata']['agentchat']['ref']}"
        for p in files
    )
    assert png[:40] not in user.model_dump_json()


async def test_anthropic_gets_image_and_document_blocks(
    anthropic_server: FakeAnthropicServer, start_worker: StartWorker, new_chat: NewChat
) -> None:
    anthropic_server.reset()
    model = AnthropicModel("claude-test", base_url=anthropic_server.base_url, api_key="k")
    await start_worker(Agent(name="claude", model=model))
    chat = new_chat("claude")
    stream = await chat.send_message(
        "describe", files=[(PNG, "image/png", "cat.png"), (b"plain words", "text/plain", "a.txt")]
    )
    assert await stream.text() == "Echo: describe"
    [request] = anthropic_server.requests
    blocks = request["messages"][-1]["content"]
    assert blocks[0] == {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": "image/png",
            "data": base64.b64encode(PNG).decode(),
        },
    }
    assert blocks[1]["source"] == {
        "type": "text",
        "media_type": "text/plain",
        "data": "plain words",
    }
    assert blocks[2]["text"] == "describe"


async def test_a_file_the_agent_refuses_fails_the_turn_before_the_model_runs(
    model_server: FakeOpenAIServer, start_worker: StartWorker, new_chat: NewChat
) -> None:
    model_server.reply = lambda messages: "ok"
    model = OpenAIModel("gpt-test", base_url=model_server.base_url)
    await start_worker(
        Agent(name="images-only", model=model, files=FilePolicy(media_types=["image/*"]))
    )
    chat = new_chat("images-only")
    stream = await chat.send_message("read this", files=[(PDF, "application/pdf", "r.pdf")])
    with pytest.raises(TurnFailedError) as failed:
        await stream.text()
    message = str(failed.value)
    assert "'r.pdf' (application/pdf)" in message and "application/pdf is not allowed" in message
    assert "images-only" in message
    assert model_server.requests == []
    # The refused file stays in the transcript: later turns leave it out, named in the text.
    assert await (await chat.send_message("never mind")).text() == "ok"
    [request] = model_server.requests
    assert "[file 'r.pdf' (application/pdf): not available to the model]" in user_texts(
        request["messages"]
    )


async def test_a_type_the_model_cannot_take_fails_the_turn_naming_it(
    model_server: FakeOpenAIServer, start_worker: StartWorker, settings: Settings
) -> None:
    model = OpenAIModel("gpt-test", base_url=model_server.base_url)
    await start_worker(Agent(name="anything", model=model, files=FilePolicy(media_types=["*/*"])))
    chat = AgentChat(
        "anything", settings=settings.with_overrides(file_types=("*/*",)), id="zip-chat-1"
    )
    stream = await chat.send_message(
        "unzip", files=[(b"PK\x03\x04zip", "application/zip", "x.zip")]
    )
    with pytest.raises(TurnFailedError, match=r"'x.zip' \(application/zip\).*does not take"):
        await stream.text()
    assert model_server.requests == []


async def test_too_many_files_for_the_agent(
    model_server: FakeOpenAIServer, start_worker: StartWorker, new_chat: NewChat
) -> None:
    model = OpenAIModel("gpt-test", base_url=model_server.base_url)
    await start_worker(Agent(name="one-file", model=model, files=FilePolicy(max_files=1)))
    chat = new_chat("one-file")
    two = [(PNG, "image/png", "a.png"), (PNG + b"2", "image/png", "b.png")]
    with pytest.raises(TurnFailedError, match="at most 1 files a message"):
        await (await chat.send_message("two", files=two)).text()
    assert model_server.requests == []
