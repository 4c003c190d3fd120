"""The agent registry: a worker's start-up writes each agent's public description to Redis
(`agentchat/worker/_registry.py`), `GET /v1/agents/{agent}` serves it; and `/api/chat`'s
`inputs`, from Python and from the real `ai` package (`AbstractChat`, which `useChat` wraps,
tests/gateway/aisdk/inputs.mjs)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import orjson
import pytest

from agentchat import Settings
from agentchat.connections import get_redis
from agentchat.gateway.agents import registry_key as gateway_key
from agentchat.worker._registry import describe_agent, register_agents, registry_key
from tests import agents
from tests.conftest import WorkerProcess
from tests.gateway.conftest import GatewayServer
from tests.gateway.test_aisdk import AISDK, TIMEOUT, npm_install

KEEPER = {
    "name": "keeper",
    "inputs": {
        "properties": {"NAME": {"title": "Name", "type": "string"}},
        "required": ["NAME"],
        "title": "Who",
        "type": "object",
    },
    "triggers": [
        {
            "name": "label",
            "description": "",
            "input_schema": {
                "properties": {"LABEL": {"title": "Label", "type": "string"}},
                "required": ["LABEL"],
                "title": "Label",
                "type": "object",
            },
        }
    ],
    "resources": [
        {"name": "FACT", "description": "", "default": ""},
        {"name": "LABEL", "description": "", "default": "none"},
    ],
}


async def register(settings: Settings) -> None:
    """What `run_worker` writes at start-up (the fixture's worker is `create_worker`'s)."""
    await register_agents(await get_redis(settings), agents.all, settings.task_queue)


def test_the_gateway_reads_the_key_the_worker_writes() -> None:
    assert gateway_key("q") == registry_key("q") == "agentchat:agents:q"
    assert describe_agent(agents.keeper) == KEEPER
    assert describe_agent(agents.quick) == {
        "name": "quick",
        "inputs": None,
        "triggers": [],
        "resources": [],
    }


async def test_get_agent(gateway: GatewayServer) -> None:
    await register(gateway.settings)
    async with gateway.client() as client:
        found = await client.get("/v1/agents/keeper")
        assert found.status_code == 200, found.text
        assert found.json() == KEEPER
        missing = await client.get("/v1/agents/nobody-serves-me")
        assert missing.status_code == 404
        error = missing.json()["error"]
        assert error["type"] == "UnknownAgentError" and "'nobody-serves-me'" in error["message"]
        assert (await client.get("/v1/agents/not%20a%20name")).status_code == 422
    # Any credential reads it, but a token bound to another agent does not.
    chat_token = gateway.mint_token("some-chat")
    async with gateway.client(chat_token) as client:
        assert (await client.get("/v1/agents/keeper")).status_code == 200
    bound = gateway.mint_token("some-chat", agent="quick")
    async with gateway.client(bound) as client:
        assert (await client.get("/v1/agents/keeper")).status_code == 403
        assert (await client.get("/v1/agents/quick")).status_code == 200
    async with gateway.client("") as client:
        assert (await client.get("/v1/agents/keeper")).status_code == 401


async def test_a_worker_registers_its_agents_when_it_starts(
    settings: Settings, worker_process: Any
) -> None:
    redis = await get_redis(settings)
    key = registry_key(settings.task_queue)
    await redis.hset(key, "keeper", b'{"name": "keeper", "stale": true}')
    worker: WorkerProcess = worker_process()
    await worker.wait_ready(60)
    raw = await redis.hget(key, "keeper")  # overwritten: a start writes its agents again
    assert raw is not None and orjson.loads(raw) == KEEPER
    assert orjson.loads(await redis.hget(key, "quick") or b"null")["name"] == "quick"


# -- inputs in the useChat body ------------------------------------------------------------------


def use_chat(chat_id: str, text: str = "hi", **extra: Any) -> dict[str, Any]:
    message = {
        "id": f"u-{uuid.uuid4().hex[:8]}",
        "role": "user",
        "parts": [{"type": "text", "text": text}],
    }
    return {"id": chat_id, "messages": [message], "agent": "keeper", **extra}


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [(None, "NAME: Field required"), ({"NAME": 5}, "NAME: Input should be a valid string")],
    ids=["missing", "mistyped"],
)
async def test_use_chat_refuses_bad_inputs(
    gateway: GatewayServer, inputs: dict[str, Any] | None, problem: str
) -> None:
    chat_id = f"inputs-{uuid.uuid4().hex[:10]}"
    body = use_chat(chat_id) if inputs is None else use_chat(chat_id, inputs=inputs)
    async with gateway.client() as client:
        refused = await client.post("/api/chat", json=body)
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["type"] == "InvalidInputsError" and problem in error["message"], error
        # Nothing queued: no message, no turn, no stream.
        chat = await client.get(f"/v1/chats/{chat_id}")
        if chat.status_code != 404:
            view = chat.json()
            assert view["messages"] == [] and view["status"]["last_turn"] == 0, view
            assert view["status"]["queued"] == 0 and view["status"]["active_turn"] is None
        assert (await client.get(f"/api/chat/{chat_id}/stream")).status_code == 204


async def test_use_chat_creates_a_chat_with_its_inputs(gateway: GatewayServer) -> None:
    chat_id = f"inputs-{uuid.uuid4().hex[:10]}"
    async with gateway.client() as client:
        sent = await client.post("/api/chat", json=use_chat(chat_id, inputs={"NAME": "Ada"}))
        assert sent.status_code == 200, sent.text
        assert '"type":"finish"' in sent.text.replace(" ", "")
        # Kept for the chat's life: later messages need not send them.
        again = await client.post("/api/chat", json=use_chat(chat_id, "again"))
        assert again.status_code == 200, again.text


#: (major, how): the three ways an app's `useChat` carries `inputs`.
WAYS = [("5", "body"), ("6", "prepare"), ("7", "body"), ("7", "prepare"), ("7", "call")]


async def run_inputs(
    gateway: GatewayServer, major: str, how: str, chat_id: str, inputs: Any
) -> dict[str, Any]:
    npm_install(AISDK)
    process = await asyncio.create_subprocess_exec(
        "node",
        "inputs.mjs",
        major,
        how,
        gateway.url,
        chat_id,
        "keeper",
        gateway.api_key,
        json.dumps(inputs),
        cwd=AISDK,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode == 0, f"ai@{major} {how}: {err.decode()}"
    result: dict[str, Any] = json.loads(out.decode().splitlines()[-1])
    return result


@pytest.mark.parametrize(("major", "how"), WAYS, ids=[f"ai{m}-{h}" for m, h in WAYS])
async def test_use_chat_body_carries_inputs(gateway: GatewayServer, major: str, how: str) -> None:
    chat_id = f"inputs-{uuid.uuid4().hex[:10]}"
    result = await run_inputs(gateway, major, how, chat_id, {"NAME": "Ada"})
    assert result["error"] is None and result["status"] == "ready", result
    assert all(r["inputs"] == {"NAME": "Ada"} for r in result["requests"]), result["requests"]
    text = "".join(p["text"] for p in result["message"]["parts"] if p["type"] == "text")
    assert text.startswith("You said: hello"), result["message"]


async def test_use_chat_without_inputs_fails_naming_the_field(gateway: GatewayServer) -> None:
    chat_id = f"inputs-{uuid.uuid4().hex[:10]}"
    result = await run_inputs(gateway, "7", "body", chat_id, {})
    assert result["status"] == "error" and "NAME" in (result["error"] or ""), result
