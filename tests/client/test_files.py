"""`AgentChat` with files, straight to the stores: what it uploads, what it refuses before
anything is queued, and what deleting a chat removes (local directory and S3)."""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentchat import Agent, AgentChat, Settings
from agentchat.blobs import open_blob_store
from agentchat.errors import (
    ChatNotFoundError,
    ConfigurationError,
    InvalidMessageError,
    MessageTooLargeError,
)
from agentchat.models import OfflineModel
from agentchat.models.openai import OpenAIModel
from agentchat.protocol.files import file_ref
from agentchat.protocol.messages import UIMessage
from agentchat.store import ChatStore
from agentchat.testing import FakeOpenAIServer
from agentchat.testing.local import free_port
from tests.conftest import StartWorker

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(48))
NewChat = Callable[..., AgentChat]
offline = Agent(name="files-offline", model=OfflineModel(tokens_per_second=0, first_token_delay=0))


def data_url(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


@contextlib.contextmanager
def http_files(root: Path) -> Iterator[str]:
    """A plain HTTP server for the files under `root`."""
    port = free_port()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


async def test_send_raw_turns_ai_sdk_inline_files_into_references(
    start_worker: StartWorker, new_chat: NewChat
) -> None:
    await start_worker(offline)
    chat = new_chat(offline.name)
    message = {
        "id": "m1",
        "role": "user",
        "parts": [
            {"type": "text", "text": "look"},
            {
                "type": "file",
                "mediaType": "image/png",
                "filename": "cat.png",
                "url": data_url(PNG, "image/png"),
            },
        ],
    }
    answer = await (await chat.send_raw([message])).text()
    # The offline model takes no bytes: the file is named in its input.
    assert "[file 'cat.png' (image/png): attached]" in answer
    [user, _] = await chat.history()
    part = user.parts[1]
    ref = file_ref(part)
    assert ref is not None and part["url"] == f"/v1/chats/{chat.id}/files/{ref}"
    assert "base64" not in user.model_dump_json()
    store = await ChatStore.open(chat.settings.database_url or "")
    try:
        [held] = await store.attachments(chat.id)
        assert (held.ref, held.media_type, held.size, held.filename) == (
            ref,
            "image/png",
            len(PNG),
            "cat.png",
        )
    finally:
        await store.close()


async def test_paths_urls_and_bytes_are_uploaded(
    start_worker: StartWorker, new_chat: NewChat, tmp_path: Path
) -> None:
    await start_worker(offline)
    (tmp_path / "notes.txt").write_text("remember the milk")
    (tmp_path / "pic.png").write_bytes(PNG)
    chat = new_chat(offline.name)
    with http_files(tmp_path) as base:
        stream = await chat.send_message(
            "three files",
            files=[tmp_path / "notes.txt", f"{base}/pic.png", PNG],
        )
        await stream.text()
    [user, _] = await chat.history()
    files = [p for p in user.parts if p["type"] == "file"]
    assert [(p["mediaType"], p.get("filename")) for p in files] == [
        ("text/plain", "notes.txt"),
        ("image/png", "pic.png"),
        ("image/png", None),
    ]
    # The same bytes twice: one blob.
    assert file_ref(files[1]) == file_ref(files[2])
    # A part from upload() goes in a message as it is.
    part = await chat.upload(b"hello", media_type="text/plain", filename="h.txt")
    await (await chat.send_message("again", files=[part])).text()


async def test_bad_files_are_refused_before_anything_is_queued(
    start_worker: StartWorker, settings: Settings, tmp_path: Path
) -> None:
    await start_worker(offline)
    small = settings.with_overrides(max_file_bytes=100)
    chat = AgentChat(offline.name, id=f"bad-{uuid.uuid4().hex[:8]}", settings=small)
    with pytest.raises(MessageTooLargeError, match="101 bytes; the limit is 100 bytes"):
        await chat.send_message("big", files=[(b"x" * 101, "text/plain", "big.txt")])
    with pytest.raises(InvalidMessageError, match=r"'empty\.txt' is empty"):
        await chat.send_message("empty", files=[(b"", "text/plain", "empty.txt")])
    with pytest.raises(
        InvalidMessageError, match="application/octet-stream, declared as image/png"
    ):
        await chat.send_message("fake", files=[(b"not a png at all", "image/png", "fake.png")])
    with pytest.raises(InvalidMessageError, match="cannot read"):
        await chat.send_message("gone", files=[tmp_path / "missing.png"])
    with pytest.raises(InvalidMessageError, match="inline file data"):
        await chat.send_message(
            UIMessage(
                id="m-inline",
                role="user",
                parts=[
                    {"type": "file", "mediaType": "image/png", "url": data_url(PNG, "image/png")}
                ],
            )
        )
    with pytest.raises(InvalidMessageError, match="a list of files"):
        await chat.send_message("one", files="cat.png")
    assert await chat.status() is None  # nothing reached the chat


async def test_a_file_of_another_chat_is_refused(
    start_worker: StartWorker, new_chat: NewChat
) -> None:
    await start_worker(offline)
    mine, theirs = new_chat(offline.name), new_chat(offline.name)
    part = await theirs.upload(PNG, media_type="image/png", filename="theirs.png")
    message = UIMessage(id="m-steal", role="user", parts=[{"type": "text", "text": "x"}, part])
    with pytest.raises(InvalidMessageError, match="is not one of chat"):
        await mine.send_message(message)
    with pytest.raises(InvalidMessageError, match="is not one of chat"):
        await mine.send_raw([message])
    with pytest.raises(InvalidMessageError, match="is not one of chat"):
        await mine.steer(message)
    assert await mine.status() is None
    # Uploading the same bytes to one's own chat makes them one's own.
    await mine.upload(PNG, media_type="image/png")
    await (await mine.send_message(message)).text()


async def test_an_owner_uploads_only_to_their_own_chats(
    start_worker: StartWorker, settings: Settings
) -> None:
    await start_worker(offline)
    chat_id = f"owned-{uuid.uuid4().hex[:8]}"
    alice = AgentChat(offline.name, id=chat_id, settings=settings, owner="alice")
    await alice.upload(PNG, media_type="image/png")  # creates the chat for alice
    assert (await alice.info()).owner == "alice"
    bob = AgentChat(offline.name, id=chat_id, settings=settings, owner="bob")
    with pytest.raises(ChatNotFoundError):
        await bob.upload(PNG, media_type="image/png")


async def test_files_need_a_blob_store(settings: Settings) -> None:
    chat = AgentChat("x", settings=settings.with_overrides(blob_url=""))
    with pytest.raises(ConfigurationError, match="AGENTCHAT_BLOB_URL"):
        await chat.upload(PNG, media_type="image/png")


@pytest.mark.parametrize("backend", ["local", "s3"])
async def test_deleting_a_chat_deletes_its_files_but_keeps_shared_ones(
    backend: str,
    request: pytest.FixtureRequest,
    start_worker: StartWorker,
    settings: Settings,
    model_server: FakeOpenAIServer,
    tmp_path: Path,
) -> None:
    if backend == "s3":
        blob_url = f"{request.getfixturevalue('s3_url')}/{uuid.uuid4().hex}"
    else:
        blob_url = str(tmp_path / "blobs")
    # The worker (started with this very settings object) and the clients share the blob
    # store, as a deployment's do.
    object.__setattr__(settings, "blob_url", blob_url)
    model_server.reply = lambda messages: "seen"
    await start_worker(
        Agent(name="files-openai", model=OpenAIModel("gpt-test", base_url=model_server.base_url))
    )
    one = AgentChat("files-openai", id=f"del-{uuid.uuid4().hex[:8]}", settings=settings)
    two = AgentChat("files-openai", id=f"del-{uuid.uuid4().hex[:8]}", settings=settings)
    # Bytes of this test's own: the session's chat store holds other tests' chats.
    png = PNG + uuid.uuid4().bytes
    shared = (png, "image/png", "shared.png")
    only = (b"%PDF-1.4 only mine " + uuid.uuid4().bytes, "application/pdf", "mine.pdf")
    assert await (await one.send_message("a", files=[shared, only])).text() == "seen"
    assert await (await two.send_message("b", files=[shared])).text() == "seen"
    image = model_server.requests[-1]["messages"][-1]["content"][1]
    assert image["image_url"]["url"] == f"data:image/png;base64,{base64.b64encode(png).decode()}"
    [user, _] = await one.history()
    shared_ref, mine_ref = (file_ref(p) for p in user.parts if p["type"] == "file")
    blobs = open_blob_store(blob_url)
    try:
        assert await blobs.exists(str(shared_ref)) and await blobs.exists(str(mine_ref))
        await one.delete()
        assert not await blobs.exists(str(mine_ref))
        assert await blobs.exists(str(shared_ref))  # two still holds it
        await two.delete()
        assert not await blobs.exists(str(shared_ref))
    finally:
        await blobs.close()
