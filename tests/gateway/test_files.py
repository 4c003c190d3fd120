"""The gateway's file routes: uploads (multipart and raw), reads with the chat's authorisation
(or a signed URL on S3), files through `useChat`'s inline data and the Python client over
HTTP, and every way a file is refused with nothing queued."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from agentchat import AgentChat, Settings
from agentchat.errors import InvalidMessageError, MessageTooLargeError
from agentchat.gateway import GatewayConfig, create_app
from agentchat.testing.local import free_port
from tests.gateway.conftest import GatewayServer, serve, shutdown

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))


def new_id() -> str:
    return f"files-{uuid.uuid4().hex[:10]}"


def ref_of(data: bytes) -> str:
    return "sha256-" + hashlib.sha256(data).hexdigest()


async def upload(
    client: httpx.AsyncClient, chat_id: str, data: bytes, media_type: str, name: str
) -> httpx.Response:
    files = {"file": (name, data, media_type)}
    return await client.post(f"/v1/chats/{chat_id}/files", files=files, params={"agent": "quick"})


async def turn_text(client: httpx.AsyncClient, chat_id: str, message: dict[str, Any]) -> str:
    """Send a UIMessage through the native route; the stored answer's text."""
    sent = await client.post(
        f"/v1/chats/{chat_id}/messages", json={"agent": "quick", "message": message}
    )
    assert sent.status_code == 200 and '"turn-end"' in sent.text, sent.text
    view = (await client.get(f"/v1/chats/{chat_id}")).json()
    answer = view["messages"][-1]
    return "".join(p.get("text", "") for p in answer["parts"] if p["type"] == "text")


async def test_upload_send_and_read_back(gateway: GatewayServer) -> None:
    chat_id = new_id()
    async with gateway.client() as client:
        answer = await upload(client, chat_id, PNG, "image/png", "cat.png")
        assert answer.status_code == 201, answer.text
        part = answer.json()
        ref = ref_of(PNG)
        assert part == {
            "type": "file",
            "mediaType": "image/png",
            "filename": "cat.png",
            "url": f"/v1/chats/{chat_id}/files/{ref}",
            "providerMetadata": {"agentchat": {"ref": ref, "size": len(PNG)}},
        }
        assert answer.headers["location"] == part["url"]
        message = {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "see"}, part]}
        # The offline test model takes no bytes: it is told of the file.
        assert "[file 'cat.png' (image/png): attached]" in await turn_text(client, chat_id, message)
        read = await client.get(part["url"])
        assert read.status_code == 200 and read.content == PNG
        assert read.headers["content-type"] == "image/png"
        assert read.headers["content-disposition"] == 'inline; filename="cat.png"'
        assert read.headers["x-content-type-options"] == "nosniff"
        # Raw bodies too: the type from Content-Type, the name from ?filename=.
        raw = await client.post(
            f"/v1/chats/{chat_id}/files",
            content=b"a,b\n1,2\n",
            params={"filename": "t.csv"},
            headers={"content-type": "text/csv"},
        )
        assert raw.status_code == 201 and raw.json()["mediaType"] == "text/csv", raw.text
        csv = await client.get(raw.json()["url"])
        assert csv.headers["content-disposition"] == 'attachment; filename="t.csv"'


async def test_a_user_token_uploads_to_its_own_chats_only(gateway: GatewayServer) -> None:
    alice = gateway.mint_user_token(f"alice-{uuid.uuid4().hex[:6]}")
    bob = gateway.mint_user_token(f"bob-{uuid.uuid4().hex[:6]}")
    chat_id = new_id()
    async with gateway.client(alice) as client:
        part = (await upload(client, chat_id, PNG, "image/png", "a.png")).json()
        # The upload created the chat for alice: it is in her directory.
        listed = (await client.get("/v1/chats")).json()["chats"]
        assert chat_id in [c["chat_id"] for c in listed]
        assert (await client.get(part["url"])).status_code == 200
    async with gateway.client(bob) as client:
        refused = await upload(client, chat_id, PNG, "image/png", "b.png")
        assert refused.status_code == 404 and refused.json()["error"]["type"] == "ChatNotFoundError"
        assert (await client.get(part["url"])).status_code == 404
    async with gateway.client(gateway.mint_token(new_id())) as client:
        assert (await client.get(part["url"])).status_code == 403


async def test_bad_uploads_are_refused_naming_the_problem(gateway: GatewayServer) -> None:
    chat_id = new_id()
    async with gateway.client() as client:
        empty = await upload(client, chat_id, b"", "text/plain", "e.txt")
        assert empty.status_code == 422 and "empty" in empty.json()["error"]["message"]
        fake = await upload(client, chat_id, b"<svg onload=alert(1)>", "image/png", "x.png")
        assert fake.status_code == 415, fake.text
        assert "declared as image/png" in fake.json()["error"]["message"]
        svg = await upload(client, chat_id, b"<svg/>", "image/svg+xml", "x.svg")
        assert svg.status_code == 415 and "image/svg+xml" in svg.json()["error"]["message"]
        nofield = await client.post(f"/v1/chats/{chat_id}/files", files={"other": ("a", b"x")})
        assert nofield.status_code == 422 and "'file'" in nofield.json()["error"]["message"]
        badname = await client.post(
            f"/v1/chats/{chat_id}/files",
            content=PNG,
            params={"filename": "a\x01b.png"},
            headers={"content-type": "image/png"},
        )
        assert badname.status_code == 422, badname.text
        # A ref the chat does not hold, whether or not the blob exists: 404.
        other = new_id()
        await upload(client, other, PNG, "image/png", "p.png")
        missing = await client.get(f"/v1/chats/{chat_id}/files/{ref_of(PNG)}")
        assert missing.status_code == 404, missing.text
        assert (await client.get(f"/v1/chats/{chat_id}/files/not-a-ref")).status_code == 422
        # Nothing of this reached the chat.
        assert (await client.get(f"/v1/chats/{chat_id}")).status_code == 404


async def test_messages_with_inline_data_or_another_chat_s_file_are_refused(
    gateway: GatewayServer,
) -> None:
    chat_id, other = new_id(), new_id()
    async with gateway.client() as client:
        theirs = (await upload(client, other, PNG, "image/png", "p.png")).json()
        inline = {
            "type": "file",
            "mediaType": "image/png",
            "url": "data:image/png;base64," + base64.b64encode(PNG).decode(),
        }
        for part, problem in ((inline, "inline file data"), (theirs, "is not one of chat")):
            message = {"id": "m1", "role": "user", "parts": [part]}
            for route in ("messages", "steer"):
                sent = await client.post(
                    f"/v1/chats/{chat_id}/{route}", json={"agent": "quick", "message": message}
                )
                assert sent.status_code == 422, sent.text
                assert problem in sent.json()["error"]["message"]
        assert (await client.get(f"/v1/chats/{chat_id}")).status_code == 404


async def test_use_chat_inline_files_become_references(gateway: GatewayServer) -> None:
    chat_id = new_id()
    inline = {
        "type": "file",
        "mediaType": "image/png",
        "filename": "cat.png",
        "url": "data:image/png;base64," + base64.b64encode(PNG).decode(),
    }
    message = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}, inline]}
    body = {"id": chat_id, "messages": [message], "agent": "quick"}
    async with gateway.client() as client:
        answer = await client.post("/api/chat", json=body)
        assert answer.status_code == 200 and "[DONE]" in answer.text, answer.text
        view = (await client.get(f"/v1/chats/{chat_id}")).json()
        [file] = [p for p in view["messages"][0]["parts"] if p["type"] == "file"]
        assert file["url"] == f"/v1/chats/{chat_id}/files/{ref_of(PNG)}"
        assert (await client.get(file["url"])).content == PNG


async def test_the_python_client_uploads_through_the_gateway(gateway: GatewayServer) -> None:
    chat = AgentChat("quick", id=new_id(), base_url=gateway.url, api_key=gateway.api_key)
    stream = await chat.send_message("look", files=[(PNG, "image/png", "cat.png")])
    assert "[file 'cat.png' (image/png): attached]" in await stream.text()
    with pytest.raises(InvalidMessageError, match="declared as image/png"):
        await chat.upload(b"nope", media_type="image/png", filename="x.png")


@pytest.fixture
async def small_gateway(settings: Settings, gateway: GatewayServer) -> AsyncIterator[str]:
    """A second gateway on the same worker, taking files of at most 100 bytes."""
    port = free_port()
    app = create_app(settings.with_overrides(max_file_bytes=100), GatewayConfig(api_keys=("k",)))
    server = await serve(app, port)
    yield f"http://127.0.0.1:{port}"
    await shutdown(server)


async def test_oversized_files_are_refused_as_they_arrive(small_gateway: str) -> None:
    chat_id = new_id()
    headers = {"Authorization": "Bearer k"}
    async with httpx.AsyncClient(base_url=small_gateway, headers=headers) as client:
        big = await upload(client, chat_id, b"x" * 101, "text/plain", "big.txt")
        assert big.status_code == 413 and "limit is 100 bytes" in big.json()["error"]["message"]

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: cut as it streams
            for _ in range(10):
                yield b"y" * 50

        streamed = await client.post(
            f"/v1/chats/{chat_id}/files", content=chunks(), headers={"content-type": "text/plain"}
        )
        assert streamed.status_code == 413, streamed.text
        assert (
            await upload(client, chat_id, b"x" * 100, "text/plain", "ok.txt")
        ).status_code == 201
    chat = AgentChat("quick", id=new_id(), base_url=small_gateway, api_key="k")
    with pytest.raises(MessageTooLargeError, match="100 bytes"):
        await chat.send_message("big", files=[(b"x" * 200, "text/plain", "big.txt")])


async def test_on_s3_a_read_redirects_to_a_signed_url(
    settings: Settings, gateway: GatewayServer, s3_url: str
) -> None:
    port = free_port()
    s3 = settings.with_overrides(blob_url=f"{s3_url}/{uuid.uuid4().hex}")
    server = await serve(create_app(s3, GatewayConfig(api_keys=("k",))), port)
    try:
        chat_id = new_id()
        headers = {"Authorization": "Bearer k"}
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=headers
        ) as client:
            part = (await upload(client, chat_id, PNG, "image/png", "cat.png")).json()
            read = await client.get(part["url"])
            assert read.status_code == 307, read.text
            signed = read.headers["location"]
            assert "X-Amz-Signature=" in signed
        async with httpx.AsyncClient() as anonymous:  # the signed URL needs no credentials
            fetched = await anonymous.get(signed)
            assert fetched.status_code == 200 and fetched.content == PNG
            assert fetched.headers["content-type"] == "image/png"
    finally:
        await shutdown(server)
