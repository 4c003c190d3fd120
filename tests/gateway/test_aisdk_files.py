"""`useChat`'s `sendMessage({ text, files })` through the real `ai` package (v5, v6, v7): the
gateway turns the inline files into uploads, the transcript keeps references, and the SDK's
strict chunk schemas accept the answer (tests/gateway/aisdk/files.mjs)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid
from typing import Any

import pytest

from tests.gateway.conftest import GatewayServer
from tests.gateway.test_aisdk import AISDK, MAJORS, TIMEOUT, node_env, node_packages

__all__ = ["node_packages"]  # the module's autouse fixture: npm installs the ai package

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


async def send_with_files(
    gateway: GatewayServer, major: str, route: str | None, chat_id: str
) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        "node",
        "files.mjs",
        major,
        gateway.url,
        chat_id,
        "quick",
        gateway.api_key,
        base64.b64encode(PNG).decode(),
        cwd=AISDK,
        env=node_env(route),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"ai@{major} {route} files timed out")
    assert process.returncode == 0, f"ai@{major} {route} files failed:\n{err.decode()}"
    result: dict[str, Any] = json.loads(out.decode().splitlines()[-1])
    return result


@MAJORS
async def test_send_message_with_files(
    gateway: GatewayServer, major: str, route: str | None
) -> None:
    chat_id = f"aisdk-files-{uuid.uuid4().hex[:10]}"
    result = await send_with_files(gateway, major, route, chat_id)
    assert result["status"] == "ready", result
    messages = result["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    answer = "".join(p.get("text", "") for p in messages[1]["parts"] if p["type"] == "text")
    # The offline test model is told of the file (it takes no bytes).
    assert "[file 'cat.png' (image/png): attached]" in answer, answer
    ref = "sha256-" + hashlib.sha256(PNG).hexdigest()
    async with gateway.client() as client:
        view = (await client.get(f"/v1/chats/{chat_id}")).json()
        [stored] = [p for p in view["messages"][0]["parts"] if p["type"] == "file"]
        assert stored["url"] == f"/v1/chats/{chat_id}/files/{ref}"
        assert stored["providerMetadata"] == {"agentchat": {"ref": ref, "size": len(PNG)}}
        assert "base64" not in json.dumps(view["messages"])
        assert (await client.get(stored["url"])).content == PNG
