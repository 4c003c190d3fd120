"""Who may do what, over every route of the gateway: one table, checked against `app.routes`.

Each route is called with six credentials: a user token on its user's chat ("own"), the same
token on another user's chat ("other"), a chat token minted for another chat, an expired and
a tampered user token, and an API key. A route added to the gateway without a row here fails
`test_every_route_has_a_row`.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from agentchat import Settings
from agentchat.connections import get_redis
from agentchat.gateway import GatewayConfig, create_app
from agentchat.worker._registry import register_agents
from tests import agents
from tests.gateway.conftest import GatewayServer

Key = tuple[str, str]  # (method, path template)

SEND = {"agent": "quick", "message": "hello"}
JSON_ONLY = {"accept": "application/json"}
WHO = ("own", "other", "chat_token", "expired", "tampered", "api_key")


@dataclass
class Row:
    """How to call a route, and the statuses each credential gets.

    `own` and `api_key` are the statuses allowed for a caller that may use the route (a
    turn left running by an earlier row may turn `204` into `200`); the others default to
    what every chat route answers: `404` for another user's chat, `403` for a chat token of
    another chat, `401` for a bad token.
    """

    own: set[int]
    api_key: set[int] | None = None
    body: Any = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    fresh: bool = False
    """Destructive (delete, close): a chat of its own for every allowed call."""
    chat_in_body: bool = False
    """The AI SDK's send: the chat id is the body's `id`."""
    other: int = 404
    chat_token: int = 403
    content: bytes | None = None
    """A raw body (a file upload) instead of `body` as JSON."""

    def expected(self, who: str) -> set[int]:
        if who == "own":
            return self.own
        if who == "api_key":
            return self.api_key or self.own
        if who == "other":
            return {self.other}
        if who == "chat_token":
            return {self.chat_token}
        return {401}


def use_chat_body(chat_id: str) -> dict[str, Any]:
    parts = [{"type": "text", "text": "hello"}]
    message = {"id": f"u-{uuid.uuid4().hex[:8]}", "role": "user", "parts": parts}
    return {"id": chat_id, "messages": [message], "agent": "quick"}


OK, IDLE = {200}, {200, 204}
FILE = b"a file for the ownership table"
FILE_REF = "sha256-" + hashlib.sha256(FILE).hexdigest()
ROUTES: dict[Key, Row] = {
    ("POST", "/v1/chats/{chat_id}/messages"): Row(OK, body=SEND, headers=JSON_ONLY),
    ("GET", "/v1/chats/{chat_id}/events"): Row(IDLE, params={"from": "live"}),
    ("GET", "/v1/chats/{chat_id}/turn"): Row(IDLE),
    ("GET", "/v1/chats/{chat_id}"): Row(OK),
    ("PATCH", "/v1/chats/{chat_id}"): Row(OK, body={"title": "renamed"}),
    ("DELETE", "/v1/chats/{chat_id}"): Row(OK, fresh=True),
    ("POST", "/v1/chats/{chat_id}/steer"): Row(OK, body={"message": "and this"}),
    # Allowed, but the agent has no such trigger: 422 InvalidTriggerError, nothing queued.
    ("POST", "/v1/chats/{chat_id}/triggers/{name}"): Row({422}, body={"input": {}}),
    ("GET", "/v1/chats/{chat_id}/resources"): Row(OK),
    ("GET", "/v1/chats/{chat_id}/threads/{thread}"): Row(OK),
    ("POST", "/v1/chats/{chat_id}/stop"): Row(OK, body={}),
    ("POST", "/v1/chats/{chat_id}/preload"): Row(OK, body={"agent": "quick"}),
    ("POST", "/v1/chats/{chat_id}/close"): Row(OK, body={}, fresh=True),
    # Allowed, and nothing waits for an answer: 409 NotPendingError.
    ("POST", "/v1/chats/{chat_id}/tool-results"): Row({409}, body={"tool_call_id": "c-1"}),
    ("POST", "/v1/chats/{chat_id}/approvals/{approval_id}"): Row({409}, body={"approved": True}),
    ("POST", "/v1/chats/{chat_id}/session"): Row(OK, body={}),
    # The WebSocket session: its `ready` frame counts as 200, a refusal (an `error` frame, then
    # close 1008) as the status its error type has on HTTP.
    ("WS", "/v1/chats/{chat_id}/ws"): Row(OK),
    ("POST", "/api/chat"): Row(OK, chat_in_body=True),
    ("POST", "/api/{profile}/chat"): Row(OK, chat_in_body=True),
    ("GET", "/api/chat/{chat_id}/stream"): Row(IDLE),
    ("GET", "/api/{profile}/chat/{chat_id}/stream"): Row(IDLE),
    # The upload first: the read below asks for the file it attached to the chat.
    ("POST", "/v1/chats/{chat_id}/files"): Row(
        {201}, content=FILE, headers={"content-type": "text/plain"}
    ),
    ("GET", "/v1/chats/{chat_id}/files/{ref}"): Row(OK),
    # Not about one chat. "own": the user token; "other": it names another owner.
    ("GET", "/v1/chats"): Row(OK, other=403),
    # Not about a chat: any valid credential reads an agent's description (the worker
    # registered "quick"); a chat token of another chat too.
    ("GET", "/v1/agents/{agent}"): Row(OK, other=200, chat_token=200),
    ("POST", "/v1/tokens"): Row({403}, api_key=OK, other=403),
}
PUBLIC: set[Key] = {
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("GET", "/static"),
}
"""Routes that take no credentials (the page, probes, the OpenAPI document): `200` for all."""


def _flatten(routes: list[BaseRoute]) -> Iterator[Key]:
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI's included routers
        if inner is not None:
            yield from _flatten(inner.routes)
        elif isinstance(route, Mount):
            yield ("GET", route.path)
        elif isinstance(route, WebSocketRoute):
            yield ("WS", route.path)
        elif isinstance(route, Route):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                yield (method, route.path)


def app_routes() -> set[Key]:
    app = create_app(Settings(), GatewayConfig(api_keys=("k",)))
    return set(_flatten(list(app.routes)))


def test_every_route_has_a_row() -> None:
    assert app_routes() == set(ROUTES) | PUBLIC


@dataclass
class Setup:
    gateway: GatewayServer
    user: str
    other_user: str
    own_chat: str
    others_chat: str
    tokens: dict[str, str]

    async def new_chat(self) -> str:
        chat_id = f"own-{uuid.uuid4().hex[:10]}"
        async with self.gateway.client(self.tokens["own"]) as client:
            sent = await client.post(f"/v1/chats/{chat_id}/messages", json=SEND, headers=JSON_ONLY)
        assert sent.status_code == 200, sent.text
        return chat_id


async def setup(gateway: GatewayServer) -> Setup:
    # What a worker's start-up writes (`run_worker`; the fixture's worker is `create_worker`'s).
    redis = await get_redis(gateway.settings)
    await register_agents(redis, agents.all, gateway.settings.task_queue)
    user, other_user = f"user-{uuid.uuid4().hex[:8]}", f"user-{uuid.uuid4().hex[:8]}"
    own_chat, others_chat = f"own-{uuid.uuid4().hex[:10]}", f"theirs-{uuid.uuid4().hex[:10]}"
    own = gateway.auth.mint_user(user, None, 600)[0]
    theirs = gateway.auth.mint_user(other_user, None, 600)[0]
    for token, chat_id in ((own, own_chat), (theirs, others_chat)):
        async with gateway.client(token) as client:
            # The whole SSE answer: the turn has ended (and been stored) when it returns.
            sent = await client.post(f"/v1/chats/{chat_id}/messages", json=SEND)
            assert sent.status_code == 200 and '"turn-end"' in sent.text, sent.text
    tampered = own[:-4] + ("AAAA" if not own.endswith("AAAA") else "BBBB")
    tokens = {
        "own": own,
        "other": own,
        "chat_token": gateway.mint_token(others_chat),
        "expired": gateway.auth.mint_user(user, None, -10)[0],
        "tampered": tampered,
        "api_key": gateway.api_key,
    }
    return Setup(gateway, user, other_user, own_chat, others_chat, tokens)


async def call(s: Setup, key: Key, row: Row, who: str) -> httpx.Response:
    method, template = key
    if row.fresh and who in ("own", "api_key"):
        chat_id = await s.new_chat()
    else:
        chat_id = s.others_chat if who == "other" else s.own_chat
    path = template.format(
        chat_id=chat_id,
        approval_id="a-1",
        profile="v5",
        ref=FILE_REF,
        name="no-such-trigger",
        thread="summary",
        agent="quick",
    )
    body, params = row.body, dict(row.params)
    if row.chat_in_body:
        body = use_chat_body(chat_id)
    if key == ("GET", "/v1/chats") and who == "other":
        params["owner"] = s.other_user
    if key == ("POST", "/v1/tokens"):
        body = {"chat_id": chat_id}
    if method == "WS":
        return await call_ws(s, path, who)
    async with s.gateway.client(s.tokens[who]) as client:
        content = {"content": row.content} if row.content is not None else {"json": body}
        request = client.build_request(method, path, params=params, headers=row.headers, **content)
        response = await client.send(request, stream=True)  # SSE routes: the status only
        await response.aclose()
        if response.status_code >= 400:
            response = await client.send(request)  # errors are small: read them whole
    return response


async def test_who_may_do_what_on_every_route(gateway: GatewayServer) -> None:
    s = await setup(gateway)
    async with gateway.client(gateway.api_key) as client:
        before = (await client.get(f"/v1/chats/{s.others_chat}")).json()
    failures: list[str] = []
    for key, row in ROUTES.items():
        for who in WHO:
            response = await call(s, key, row, who)
            if response.status_code not in row.expected(who):
                failures.append(f"{key} as {who}: {response.status_code} {response.text[:200]}")
            elif response.status_code == 404:
                # Another user's chat looks exactly like one that does not exist.
                error = {"type": "ChatNotFoundError", "message": f"no chat {s.others_chat!r}"}
                if response.json() != {"error": error}:
                    failures.append(f"{key} as {who}: revealing 404 {response.text}")
            if response.status_code == 401 and s.tokens[who] in response.text:
                failures.append(f"{key} as {who}: the token is echoed")
    assert not failures, "\n".join(failures)
    async with gateway.client(gateway.api_key) as client:
        after = (await client.get(f"/v1/chats/{s.others_chat}")).json()
        for who in WHO:
            for key in PUBLIC - {("GET", "/static")}:
                response = await client.get(key[1], headers=_auth(s.tokens[who]))
                assert response.status_code == 200, (key, who, response.text[:200])
        assert (await client.get("/static/js/main.js")).status_code == 200
    # Nothing another user did reached the chat.
    assert after["messages"] == before["messages"] and after["chat"] == before["chat"]


_WS_STATUS = {"AuthenticationError": 401, "PermissionDeniedError": 403, "ChatNotFoundError": 404}


async def call_ws(s: Setup, path: str, who: str) -> httpx.Response:
    """Open the socket (a token in `?token=`, as browsers pass it; the API key as a header)
    and answer its first frame as the HTTP status it stands for."""
    credential = s.tokens[who]
    url = "ws://" + s.gateway.url.removeprefix("http://") + path
    headers = {}
    if who == "api_key":
        headers["Authorization"] = f"Bearer {credential}"
    else:
        url += f"?token={credential}"
    async with connect(url, additional_headers=headers) as ws:
        first = orjson.loads(await ws.recv())
        if first["type"] == "ready":
            return httpx.Response(200, json=first)
        with contextlib.suppress(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1008, (path, who, ws.close_code)
    status = _WS_STATUS.get(first["error"]["type"], 500)
    return httpx.Response(status, json={"error": first["error"]})


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_an_unknown_chat_answers_as_another_users(gateway: GatewayServer) -> None:
    s = await setup(gateway)
    missing = f"never-{uuid.uuid4().hex[:8]}"
    async with gateway.client(s.tokens["own"]) as client:
        for method, path in (
            ("GET", f"/v1/chats/{missing}"),
            ("POST", f"/v1/chats/{missing}/stop"),
            ("PATCH", f"/v1/chats/{missing}"),
            ("DELETE", f"/v1/chats/{missing}"),
        ):
            body = {"title": "x"} if method == "PATCH" else None
            response = await client.request(method, path, json=body)
            assert response.status_code == 404, (path, response.text)
            assert response.json() == {
                "error": {"type": "ChatNotFoundError", "message": f"no chat {missing!r}"}
            }
