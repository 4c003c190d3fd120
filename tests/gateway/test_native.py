"""The native API over real HTTP: credentials, hostile input, SSE ids that are Redis entry ids
and resume exactly, and the control routes (steer, stop, preload, answers)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any

import httpx
from redis.asyncio import Redis

from agentchat.stream._store import chat_keys, id_tuple
from tests.gateway.conftest import GatewayServer


@dataclass
class Event:
    """One SSE event: a data event (`data` decoded), a `retry:` hint or a comment."""

    id: str | None = None
    data: dict[str, Any] | None = None
    retry: int | None = None
    comment: str | None = None

    @property
    def kind(self) -> str | None:
        return self.data["k"] if self.data else None

    @property
    def chunk(self) -> dict[str, Any]:
        return self.data["c"] if self.data and self.kind == "chunk" else {}

    def get(self, key: str) -> Any:
        return (self.data or {}).get(key)


class Reader:
    """Reads one SSE response event by event, across several calls."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._events = self._parse()

    async def _parse(self) -> AsyncIterator[Event]:
        fields: dict[str, Any] = {}
        async for line in self.response.aiter_lines():
            if not line:
                if fields:
                    yield Event(**fields)
                fields = {}
            elif line.startswith(":"):
                yield Event(comment=line[1:].strip())
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "data":
                    fields["data"] = json.loads(value)
                elif name == "retry":
                    fields["retry"] = int(value)
                elif name == "id":
                    fields["id"] = value

    async def next(self, limit: float = 10) -> Event:
        async with asyncio.timeout(limit):
            return await anext(self._events)

    async def until(self, *kinds: str, chunk: str | None = None, limit: float = 30) -> list[Event]:
        """Data events up to the first of `kinds` (or chunk of type `chunk`), included."""
        out: list[Event] = []
        async with asyncio.timeout(limit):
            async for event in self._events:
                if event.data is None:
                    continue
                out.append(event)
                if event.kind in kinds or (chunk and event.chunk.get("type") == chunk):
                    return out
        return out

    async def turn(self) -> list[Event]:
        return await self.until("turn-end", "settled", "error")


def ids(events: list[Event] | httpx.Response) -> list[str | None]:
    if isinstance(events, httpx.Response):  # a whole SSE body
        return [line[4:] for line in events.text.splitlines() if line.startswith("id: ")]
    return [e.id for e in events]


def new_chat() -> str:
    return f"n-{uuid.uuid4().hex[:10]}"


def text_of(turn: list[Event]) -> str:
    return "".join(e.chunk.get("delta", "") for e in turn if e.chunk.get("type") == "text-delta")


async def stream_ids(redis: Redis, chat_id: str, after: str = "-") -> list[str | None]:
    """The ids of the chat's Redis stream entries (after `after`), straight from XRANGE."""
    start = f"({after}" if after != "-" else after
    rows = await redis.xrange(chat_keys(chat_id)[0], start, "+")
    assert rows is not None
    ids: list[str | None] = []
    for entry_id, _ in rows:
        assert isinstance(entry_id, bytes)  # the client does not decode responses
        ids.append(entry_id.decode())
    return ids


async def answered(client: httpx.AsyncClient, chat_id: str, text: str, agent: str = "quick") -> str:
    """Send a message and read its whole turn; returns the answer's text."""
    body = {"agent": agent, "message": text}
    async with client.stream("POST", f"/v1/chats/{chat_id}/messages", json=body) as response:
        assert response.status_code == 200, await response.aread()
        turn = await Reader(response).turn()
    assert turn[-1].kind == "turn-end" and turn[-1].get("status") == "completed"
    return text_of(turn)


async def refused(request: Awaitable[httpx.Response], expected: str, *fields: str) -> str:
    """Checks an error answer (`expected`: "status type") and its `fields`; returns its message."""
    response = await request
    status, type_name = expected.split()
    assert response.status_code == int(status), (response.request.url, response.text)
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["type"] == type_name and error["message"], error
    assert error.get("fields") == (list(fields) or None), (response.request.url, error)
    return str(error["message"])


# -- credentials ------------------------------------------------------------------------------


async def test_api_keys_and_chat_tokens(gateway: GatewayServer) -> None:
    chat_id, other = new_chat(), new_chat()
    path, elsewhere = f"/v1/chats/{chat_id}", f"/v1/chats/{other}"
    no_auth = "401 AuthenticationError"
    async with gateway.client() as client:
        assert "You said: hi" in await answered(client, chat_id, "hi")
    token = gateway.mint_token(chat_id)
    async with gateway.client(credential="") as anonymous:
        assert "missing credentials" in await refused(anonymous.get(path), no_auth)
        await refused(anonymous.get(path, headers={"X-API-Key": "wrong"}), no_auth)
        by_header = await anonymous.get(path, headers={"X-API-Key": gateway.api_key})
        assert by_header.json()["id"] == chat_id
        assert (await anonymous.get(path, params={"token": token})).json()["id"] == chat_id
        denied = anonymous.get(elsewhere, params={"token": token})
        await refused(denied, "403 PermissionDeniedError")
        expired = gateway.auth.mint(chat_id, None, -10)[0]
        assert "expired" in await refused(anonymous.get(path, params={"token": expired}), no_auth)
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        await refused(anonymous.get(path, params={"token": forged}), no_auth)
    async with gateway.client(credential="wrong") as wrong:
        await refused(wrong.get(path), no_auth)
    async with gateway.client(credential="", cookies={"agentchat_token": token}) as cookie:
        assert (await cookie.get(path)).json()["id"] == chat_id
    async with gateway.client(credential=token) as bearer:
        assert (await bearer.get(path)).json()["id"] == chat_id
        await refused(bearer.post(f"{elsewhere}/stop", json={}), "403 PermissionDeniedError")
        mint = bearer.post("/v1/tokens", json={"chat_id": chat_id})  # only API keys mint
        await refused(mint, "403 PermissionDeniedError")
    async with gateway.client(credential=gateway.mint_token(chat_id, agent="quick")) as scoped:
        wrong_agent = scoped.post(f"{path}/messages", json={"agent": "slow", "message": "hi"})
        assert "'slow'" in await refused(wrong_agent, "403 PermissionDeniedError")
        assert "You said: again" in await answered(scoped, chat_id, "again")
    async with gateway.client() as server:
        minted = await server.post("/v1/tokens", json={"chat_id": other, "ttl_seconds": 60})
    view = minted.json()
    assert view["chat_id"] == other and 0 < view["expires_at"] - time.time() <= 61
    async with gateway.client(credential=view["token"]) as client:
        assert "You said: mine" in await answered(client, other, "mine")


# -- hostile input ------------------------------------------------------------------------------


async def test_bad_input_is_refused_and_leaves_the_chat_consistent(
    gateway: GatewayServer, redis: Redis
) -> None:
    chat_id = new_chat()
    url = f"/v1/chats/{chat_id}/messages"
    follow, turn = f"/v1/chats/{chat_id}/events", f"/v1/chats/{chat_id}/turn"
    as_json = {"content-type": "application/json"}
    quick = {"agent": "quick", "message": "hi"}
    assistant = {"id": "m", "role": "assistant", "parts": [{"type": "text", "text": "hi"}]}
    invalid = "422 InvalidRequestError"

    async def chunked() -> AsyncIterator[bytes]:  # no content-length: counted as it comes
        for _ in range(12):
            yield b"x" * 100_000

    async with gateway.client() as c:
        await answered(c, chat_id, "first")
        before = await stream_ids(redis, chat_id)
        huge = b'{"agent":"quick","message":"' + b"x" * (1 << 20) + b'"}'
        too_large = "413 RequestTooLargeError"
        await refused(c.post(url, content=huge, headers=as_json), too_large)
        await refused(c.post(url, content=chunked(), headers=as_json), too_large)
        long_text = {**quick, "message": "x" * 300_000}  # the body fits, the message does not
        await refused(c.post(url, json=long_text), "413 MessageTooLargeError")
        for broken in (b'{"agent": "quick", "mess', b'{"message": "\xff"}', b"[1, 2]"):
            await refused(c.post(url, content=broken, headers=as_json), invalid, "body")
        await refused(c.post(url, json={**quick, "sneaky": 1}), invalid, "sneaky")
        await refused(c.post(url, json={"agent": "quick"}), invalid, "message")
        await refused(c.post(url, json={**quick, "message_id": "a b"}), invalid, "message_id")
        await refused(c.post(url, json={**quick, "message": " \n "}), "422 InvalidMessageError")
        await refused(c.post(url, json={**quick, "message": assistant}), "422 InvalidMessageError")
        await refused(c.post(url, json={**quick, "agent": "nobody"}), "409 AgentMismatchError")
        elsewhere = f"/v1/chats/{new_chat()}/messages"
        await refused(c.post(elsewhere, json={**quick, "agent": "nobody"}), "404 UnknownAgentError")
        await refused(c.post("/v1/chats/not%20valid/messages", json=quick), invalid, "path.chat_id")
        await refused(c.get(f"/v1/chats/{'x' * 201}"), invalid, "path.chat_id")
        bad_cursor, header = "422 InvalidCursorError", "header.last-event-id"
        await refused(c.get(follow, headers={"Last-Event-ID": "x"}), bad_cursor, header)
        await refused(c.get(turn, headers={"Last-Event-ID": f"{2**64}-0"}), bad_cursor, header)
        await refused(c.get(follow, params={"after": "1-2-3"}), invalid, "query.after")
        await refused(c.get(follow, params={"after": f"0-{2**64}"}), bad_cursor, "query.after")
        await refused(c.get(turn, params={"turn": 0}), invalid, "query.turn")
        too_long = {"chat_id": chat_id, "ttl_seconds": 10**9}
        await refused(c.post("/v1/tokens", json=too_long), invalid, "ttl_seconds")
        await refused(c.put(url, json=quick), "405 MethodNotAllowedError")
        assert (await c.put(url, json=quick)).headers["allow"] == "POST"
        # None of it reached the chat: the next message is its second turn.
        assert await stream_ids(redis, chat_id) == before
        assert "seen 2 messages" in await answered(c, chat_id, "second")
        history = (await c.get(f"/v1/chats/{chat_id}")).json()["messages"]
    assert [m["role"] for m in history] == ["user", "assistant"] * 2


# -- SSE ----------------------------------------------------------------------------------------


async def test_message_stream_ids_are_the_chats_redis_entries(
    gateway: GatewayServer, redis: Redis
) -> None:
    chat_id = new_chat()
    url = f"/v1/chats/{chat_id}/messages"
    async with gateway.client() as client:
        await answered(client, chat_id, "warm up")
        async with client.stream("POST", url, json={"agent": "quick", "message": "hi"}) as sse:
            assert sse.headers["content-type"].startswith("text/event-stream")
            reader = Reader(sse)
            assert (await reader.next()).retry == 2000
            accepted, *rest = await reader.turn()
        assert accepted.kind == "accepted" and accepted.id == accepted.get("after") != "0-0"
        assert {"message_id", "run_id", "new_run", "duplicate", "turn"} <= (
            accepted.data or {}
        ).keys()
        # Every event of the turn, in order, with its Redis entry id as the SSE id.
        assert ids(rest) == await stream_ids(redis, chat_id, accepted.id or "")
        assert rest[0].kind == "turn-start" and rest[0].get("turn") == 2
        assert rest[0].get("userMessageId") == accepted.get("message_id")
        assert rest[-1].kind == "turn-end" and "You said: hi" in text_of(rest)
        body = {"agent": "quick", "message": "json please", "message_id": "m-3"}
        ack = await client.post(url, json=body, headers={"Accept": "application/json"})
    assert ack.headers["content-type"] == "application/json"
    assert ack.json() == {**ack.json(), "message_id": "m-3", "duplicate": False}
    assert ack.json()["after"] == rest[-1].id


async def test_follow_replays_from_mid_turn_then_follows_the_next_live(
    gateway: GatewayServer, redis: Redis
) -> None:
    chat_id = new_chat()
    follow = f"/v1/chats/{chat_id}/events"
    async with gateway.client() as client, gateway.client() as other:
        await answered(client, chat_id, "one")
        first_turn = await stream_ids(redis, chat_id)
        middle = first_turn[len(first_turn) // 2] or ""
        async with client.stream("GET", follow, headers={"Last-Event-ID": middle}) as live:
            reader = Reader(live)
            replayed = await reader.turn()
            assert ids(replayed) == first_turn[first_turn.index(middle) + 1 :]
            sent = await other.post(
                f"/v1/chats/{chat_id}/messages",
                json={"agent": "quick", "message": "two"},
                headers={"Accept": "application/json"},
            )
            assert sent.status_code == 200
            followed = await reader.turn()
        assert followed[0].kind == "turn-start" and "You said: two" in text_of(followed)
        # Across the turn boundary: nothing twice, nothing missed.
        assert ids(replayed + followed) == await stream_ids(redis, chat_id, middle)
        async with client.stream("GET", follow, params={"after": middle}) as again:
            assert ids(await Reader(again).turn()) == ids(replayed)


async def test_idle_follow_gets_keepalives_and_ended_chats_answer_204(
    gateway: GatewayServer, redis: Redis
) -> None:
    chat_id = new_chat()
    follow = f"/v1/chats/{chat_id}/events"
    async with gateway.client() as client:
        assert (await client.get(f"/v1/chats/{new_chat()}/events")).status_code == 204
        await answered(client, chat_id, "hi")
        async with client.stream("GET", follow, params={"from": "live"}) as idle:
            reader = Reader(idle)
            assert (await reader.next()).retry == 2000
            assert (await reader.next(limit=5)).comment == "keepalive"
        closed = await client.post(f"/v1/chats/{chat_id}/close", json={"wait": True})
        assert closed.json() == {"closed": True}
        last = (await stream_ids(redis, chat_id))[-1] or ""
        assert (await client.get(follow, headers={"Last-Event-ID": last})).status_code == 204
        # What is retained still replays, and then the stream ends at once.
        started = time.monotonic()
        replay = await client.get(follow, params={"from": "start"})
        assert time.monotonic() - started < 3
        assert ids(replay) == await stream_ids(redis, chat_id)


async def test_turn_resumes_a_running_turn_from_a_cursor(
    gateway: GatewayServer, redis: Redis
) -> None:
    chat_id = new_chat()
    path = f"/v1/chats/{chat_id}/turn"
    body = {"agent": "slow", "message": "a long story"}
    async with gateway.client() as client:
        async with client.stream("POST", f"/v1/chats/{chat_id}/messages", json=body) as dropped:
            head = await Reader(dropped).until(chunk="text-delta")
        accepted, cursor = head[0], head[-1].id or ""
        view = (await client.get(f"/v1/chats/{chat_id}")).json()
        assert view["status"]["active_turn"] == 1
        # A page restoring the chat replays the running turn from its start.
        assert id_tuple(view["resume_after"]) < id_tuple(head[1].id or "")
        by_message = {"message_id": accepted.get("message_id"), "after": cursor}
        async with (
            client.stream("GET", path, headers={"Last-Event-ID": cursor}) as resumed,
            client.stream("GET", path, params=by_message) as by_id,
        ):
            rest = await Reader(resumed).turn()
            assert ids(await Reader(by_id).turn()) == ids(rest)
        assert rest[-1].kind == "turn-end" and rest[-1].get("status") == "completed"
        whole = ids(head[1:] + rest)
        assert whole == await stream_ids(redis, chat_id, accepted.id or "")
        assert text_of(head + rest).startswith("You said: a long story.")
        # Nothing runs now: nothing to follow, whichever way it is asked.
        for params in ({}, {"message_id": "never-sent"}, {"turn": 2}, {"turn": 3}):
            assert (await client.get(path, params=params)).status_code == 204, params
        unknown = f"/v1/chats/{new_chat()}/turn"
        for params in ({"turn": 1}, {"after": cursor}, {"message_id": "m"}):
            assert (await client.get(unknown, params=params)).status_code == 204, params
        # A finished turn still replays whole.
        assert ids(await client.get(path, params={"turn": 1})) == whole


async def test_get_chat_restores_a_ui(gateway: GatewayServer, redis: Redis) -> None:
    chat_id = new_chat()
    async with gateway.client() as client:
        await refused(client.get(f"/v1/chats/{chat_id}"), "404 ChatNotFoundError")
        answer = await answered(client, chat_id, "remember me")
        view = (await client.get(f"/v1/chats/{chat_id}")).json()
    assert view["id"] == chat_id and view["agent"] == "quick"
    assert (view["status"]["active_turn"], view["status"]["last_turn"]) == (None, 1)
    user, assistant = view["messages"]
    assert user["role"] == "user" and user["parts"] == [{"type": "text", "text": "remember me"}]
    assert assistant["role"] == "assistant"
    assert "".join(p.get("text", "") for p in assistant["parts"]) == answer
    assert view["resume_after"] == (await stream_ids(redis, chat_id))[-1]


# -- control --------------------------------------------------------------------------------------


async def test_steer_joins_the_running_turn_and_stop_ends_it(gateway: GatewayServer) -> None:
    chat_id = new_chat()
    body = {"agent": "slow", "message": "tell me everything"}
    async with gateway.client() as client:
        assert (await client.post(f"/v1/chats/{chat_id}/stop", json={})).json() == {"turn": None}
        async with client.stream("POST", f"/v1/chats/{chat_id}/messages", json=body) as sse:
            reader = Reader(sse)
            await reader.until(chunk="text-delta")
            steer = {"message": "focus on cats", "message_id": "s-1"}
            ack = (await client.post(f"/v1/chats/{chat_id}/steer", json=steer)).json()
            assert (ack["injected"], ack["turn"], ack["message_id"]) == (True, 1, "s-1")
            marked = (await reader.until(chunk="data-steer"))[-1].chunk
            assert marked["data"]["text"] == "focus on cats"
            await reader.until(chunk="text-delta")
            stopped = await client.post(f"/v1/chats/{chat_id}/stop")  # no body at all
            assert stopped.json() == {"turn": 1}
            end = (await reader.turn())[-1]
        assert end.kind == "turn-end" and end.get("status") == "stopped"
        view = (await client.get(f"/v1/chats/{chat_id}")).json()
        assert view["status"]["active_turn"] is None
        assert any(p["type"] == "data-steer" for p in view["messages"][-1]["parts"])
        # The steer counts as a message the model has seen.
        assert "seen 3 messages" in await answered(client, chat_id, "still there?", agent="slow")


async def test_preload_starts_the_chat(gateway: GatewayServer) -> None:
    chat_id = new_chat()
    preload = f"/v1/chats/{chat_id}/preload"
    async with gateway.client() as client:
        await refused(client.post(preload, json={}), "422 InvalidRequestError", "agent")
        ack = (await client.post(preload, json={"agent": "quick"})).json()
        assert ack == {"run_id": ack["run_id"], "preloaded": True}
        assert (await client.get(f"/v1/chats/{chat_id}")).json()["status"]["last_turn"] == 0
        assert "You said: now" in await answered(client, chat_id, "now")


async def test_client_tool_answered_over_http(gateway: GatewayServer) -> None:
    chat_id = new_chat()
    results = f"/v1/chats/{chat_id}/tool-results"
    body = {"agent": "clienty", "message": "please pick color for the logo"}
    answer = {"output": {"color": "blue"}}
    not_pending = "409 NotPendingError"
    async with gateway.client() as client:
        async with client.stream("POST", f"/v1/chats/{chat_id}/messages", json=body) as sse:
            reader = Reader(sse)
            call = (await reader.until(chunk="tool-input-available"))[-1].chunk
            assert call["toolName"] == "pick_color"
            done = await client.post(results, json={"tool_call_id": call["toolCallId"], **answer})
            assert done.json() == {"turn": 1}
            turn = await reader.turn()
        assert turn[-1].get("status") == "completed"
        assert text_of(turn) == 'Here is what the tools returned: {"color":"blue"}'
        for call_id in (call["toolCallId"], "call_99"):  # answered already; never made
            again = client.post(results, json={"tool_call_id": call_id, **answer})
            await refused(again, not_pending)
        # No test agent asks for approval: an approval that nobody requested is not pending.
        approve = client.post(f"/v1/chats/{chat_id}/approvals/a-1", json={"approved": True})
        await refused(approve, not_pending)
        deny = {"approved": False, "reason": "no"}
        await refused(client.post(f"/v1/chats/{new_chat()}/approvals/a-1", json=deny), not_pending)
