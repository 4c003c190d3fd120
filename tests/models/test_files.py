"""File parts as each provider takes them: OpenAI's content parts, Anthropic's blocks."""

from __future__ import annotations

import base64

from agentchat.models.anthropic import to_anthropic_messages
from agentchat.models.base import to_chat_messages
from agentchat.protocol.files import make_file_part
from agentchat.protocol.messages import UIMessage

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20
PDF = b"%PDF-1.4 tiny"
REFS = {name: "sha256-" + str(i) * 64 for i, name in enumerate(("png", "pdf", "txt", "bin"))}


def message() -> UIMessage:
    return UIMessage(
        id="u1",
        role="user",
        parts=[
            {"type": "text", "text": "what is this?"},
            make_file_part("c", REFS["png"], "image/png", len(PNG), "cat.png"),
            make_file_part("c", REFS["pdf"], "application/pdf", len(PDF), "doc.pdf"),
            make_file_part("c", REFS["txt"], "text/plain", 5, "notes.txt"),
            make_file_part("c", REFS["bin"], "application/zip", 3, "x.zip"),
        ],
    )


FILES = {REFS["png"]: PNG, REFS["pdf"]: PDF, REFS["txt"]: b"hello"}


def test_openai_content_parts() -> None:
    [user] = to_chat_messages(None, [message()], FILES)
    png = base64.b64encode(PNG).decode()
    pdf = base64.b64encode(PDF).decode()
    assert user["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
        {
            "type": "file",
            "file": {"filename": "doc.pdf", "file_data": f"data:application/pdf;base64,{pdf}"},
        },
        {"type": "text", "text": "<file name='notes.txt' type='text/plain'>\nhello\n</file>"},
        {"type": "text", "text": "[file 'x.zip' (application/zip): not available to the model]"},
    ]


def test_without_bytes_files_are_named_in_the_text() -> None:
    [user] = to_chat_messages(None, [message()])
    assert isinstance(user["content"], str)
    assert user["content"].startswith("what is this?\n[file 'cat.png' (image/png): attached]")
    # Text-only messages are exactly as before.
    plain = UIMessage(id="u", role="user", parts=[{"type": "text", "text": "hi"}])
    assert to_chat_messages(None, [plain], FILES) == [{"role": "user", "content": "hi"}]


def test_anthropic_blocks_files_first() -> None:
    [user] = to_anthropic_messages([message()], FILES)
    blocks = user["content"]
    assert blocks[0] == {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": "image/png",
            "data": base64.b64encode(PNG).decode(),
        },
    }
    assert blocks[1]["type"] == "document"
    assert blocks[1]["source"]["media_type"] == "application/pdf"
    assert blocks[2] == {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "hello"},
        "title": "notes.txt",
    }
    assert blocks[3]["type"] == "text" and "x.zip" in blocks[3]["text"]
    assert blocks[4]["text"] == "what is this?"
    assert "cache_control" in blocks[-1]
