"""The directory of chats over the real gateway: listing with pages and search, rename,
archive, metadata and deletion, a chat read from the store once its runs are gone, the
Python client through the gateway with a user token, and the input each route refuses."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from agentchat import AgentChat, Chats, Settings
from agentchat.connections import get_store
from agentchat.errors import ChatNotFoundError, PermissionDeniedError
from agentchat.protocol.messages import UIMessage, user_message
from tests.gateway.conftest import GatewayServer
from tests.gateway.test_native import refused

INVALID = "422 InvalidRequestError"


@dataclass
class User:
    """A user of the application: their id and a user token for them."""

    id: str
    token: str
    gateway: GatewayServer

    def client(self) -> httpx.AsyncClient:
        return self.gateway.client(self.token)

    async def chat(self, text: str, agent: str = "quick") -> str:
        """A new chat of theirs whose first (finished) turn was `text`; returns its id."""
        chat_id = f"d-{uuid.uuid4().hex[:10]}"
        async with self.client() as client:
            body = {"agent": agent, "message": text}
            sent = await client.post(f"/v1/chats/{chat_id}/messages", json=body)
        assert sent.status_code == 200 and '"turn-end"' in sent.text, sent.text
        return chat_id

    async def listed(self, **params: Any) -> dict[str, Any]:
        async with self.client() as client:
            response = await client.get("/v1/chats", params=params)
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        return page


NewUser = Callable[[], Awaitable[User]]


@pytest.fixture
async def new_user(gateway: GatewayServer) -> AsyncIterator[NewUser]:
    """Factory: a user with a fresh id and token; their chats are deleted when the test ends."""
    users: list[User] = []

    async def make() -> User:
        user_id = f"user-{uuid.uuid4().hex[:10]}"
        user = User(user_id, gateway.auth.mint_user(user_id, None, 600)[0], gateway)
        users.append(user)
        return user

    yield make
    async with gateway.client() as client:
        for user in users:
            page = await client.get("/v1/chats", params={"owner": user.id, "archived": "any"})
            for chat in page.json()["chats"]:
                await client.delete(f"/v1/chats/{chat['chat_id']}", params={"wait": "false"})


def ids(page: dict[str, Any]) -> list[str]:
    return [chat["chat_id"] for chat in page["chats"]]


async def test_a_users_chats_page_by_page_newest_first_and_searched(new_user: NewUser) -> None:
    alice, bob = await new_user(), await new_user()
    apples = await alice.chat("apples are red")
    bananas = await alice.chat("bananas are yellow")
    cherries = await alice.chat("cherries are dark")
    bobs = await bob.chat("bananas for bob")

    first = await alice.listed(limit=2)
    assert ids(first) == [cherries, bananas] and first["next_cursor"]
    second = await alice.listed(limit=2, cursor=first["next_cursor"])
    assert ids(second) == [apples] and second["next_cursor"] is None
    chat = first["chats"][0]
    assert (chat["owner"], chat["agent"], chat["title"]) == (alice.id, "quick", "cherries are dark")
    assert chat["last_turn"] == 1 and chat["message_count"] == 2

    assert ids(await alice.listed(query="banana")) == [bananas]  # the last word: a prefix
    assert ids(await alice.listed(query="You said cher")) == [cherries]  # the answer's text
    assert ids(await bob.listed(query="bananas")) == [bobs]
    assert ids(await alice.listed(query="nothing-like-this")) == []
    async with alice.client() as client:
        someone = client.get("/v1/chats", params={"owner": bob.id})
        await refused(someone, "403 PermissionDeniedError")
        mine = await client.get("/v1/chats", params={"owner": alice.id, "agent": "slow"})
        assert mine.json() == {"chats": [], "next_cursor": None}

    async with alice.gateway.client() as server:  # an API key: any owner, as a filter
        page = (await server.get("/v1/chats", params={"owner": bob.id})).json()
        assert ids(page) == [bobs]
        everyone = (await server.get("/v1/chats", params={"limit": 200})).json()
        assert {apples, bananas, cherries, bobs} <= set(ids(everyone))


async def test_rename_archive_tag_and_delete(new_user: NewUser) -> None:
    alice = await new_user()
    older, chat_id = await alice.chat("first chat"), await alice.chat("second chat")
    path = f"/v1/chats/{chat_id}"
    async with alice.client() as client:
        view = (await client.get(path)).json()
        assert view["chat"]["title"] == "second chat" and view["chat"]["owner"] == alice.id
        assert [m["role"] for m in view["messages"]] == ["user", "assistant"]

        renamed = (await client.patch(f"/v1/chats/{older}", json={"title": "Plans"})).json()
        assert renamed["title"] == "Plans" and renamed["chat_id"] == older
        assert ids(await alice.listed()) == [older, chat_id]  # a rename is activity
        assert (await client.get(f"/v1/chats/{older}")).json()["chat"]["title"] == "Plans"

        tagged = await client.patch(path, json={"metadata": {"topic": "x"}, "archived": True})
        assert tagged.json()["metadata"] == {"topic": "x"} and tagged.json()["archived"]
        assert ids(await alice.listed()) == [older]
        assert ids(await alice.listed(archived="true")) == [chat_id]
        assert ids(await alice.listed(archived="any")) == [chat_id, older]
        await client.patch(path, json={"archived": False})

        deleted = await client.delete(path)
        assert deleted.json() == {"chat_id": chat_id, "existed": True, "subchats": []}
        assert ids(await alice.listed(archived="any")) == [older]
        await refused(client.get(path), "404 ChatNotFoundError")
        await refused(client.delete(path), "404 ChatNotFoundError")  # gone for its user
        started = await client.delete(f"/v1/chats/{older}", params={"wait": "false"})
        assert started.status_code == 202 and started.json() == {
            "chat_id": older,
            "deleting": True,
        }
    async with alice.gateway.client() as server:  # an API key: deleting twice is harmless
        again = (await server.delete(path)).json()
        assert again == {"chat_id": chat_id, "existed": False, "subchats": []}
    # Afterwards the id is unknown: a message starts an empty chat.
    async with alice.client() as client:
        body = {"agent": "quick", "message": "again"}
        sent = await client.post(f"{path}/messages", json=body)
        assert '"turn-end"' in sent.text
        assert len((await client.get(path)).json()["messages"]) == 2


async def test_a_chat_whose_runs_are_gone_is_read_from_the_store(
    new_user: NewUser, settings: Settings
) -> None:
    """A chat the store keeps and Temporal no longer has (its runs deleted by retention; here
    never run, which Temporal cannot tell apart): answered from the store."""
    alice = await new_user()
    chat_id = f"d-{uuid.uuid4().hex[:10]}"
    store = await get_store(settings)
    await store.create_chat(chat_id, "quick", owner=alice.id)
    question = user_message("remember this", f"{chat_id}-m1")
    answer = UIMessage(id=f"{chat_id}-a1", role="assistant", parts=[{"type": "text", "text": "ok"}])
    await store.save_turn(
        chat_id,
        1,
        [m.model_dump(mode="json", exclude_none=True) for m in (question, answer)],
        start=0,
        title="remember this",
    )
    async with alice.client() as client:
        view = (await client.get(f"/v1/chats/{chat_id}")).json()
    assert view["agent"] == "quick" and view["chat"]["title"] == "remember this"
    assert view["status"]["active_turn"] is None and view["status"]["last_turn"] == 1
    user, reply = view["messages"]
    assert user["parts"] == [{"type": "text", "text": "remember this"}]
    assert reply["role"] == "assistant" and reply["parts"] == [{"type": "text", "text": "ok"}]


async def test_the_python_client_through_the_gateway_with_a_user_token(
    new_user: NewUser, gateway: GatewayServer
) -> None:
    alice, bob = await new_user(), await new_user()
    mine, theirs = await alice.chat("hello there"), await bob.chat("private")

    def chat(chat_id: str) -> AgentChat:
        return AgentChat("quick", chat_id, base_url=gateway.url, token=alice.token)

    info = await chat(mine).info()
    assert info.owner == alice.id and info.title == "hello there"
    assert (await chat(mine).rename("Greetings")).title == "Greetings"
    assert (await chat(mine).archive()).archived
    assert [m.role for m in await chat(mine).history()] == ["user", "assistant"]
    for call in (chat(theirs).info(), chat(theirs).rename("mine now"), chat(theirs).delete()):
        with pytest.raises(ChatNotFoundError):
            await call
    listed = await Chats(base_url=gateway.url, token=alice.token).list(archived=None)
    assert [c.chat_id for c in listed.chats] == [mine]
    with pytest.raises(PermissionDeniedError):
        await Chats(base_url=gateway.url, token=alice.token).list(owner=bob.id)
    result = await chat(mine).delete()
    assert result is not None and result.existed
    with pytest.raises(ChatNotFoundError):
        await chat(mine).info()


async def test_bad_input_names_its_parameter(new_user: NewUser, gateway: GatewayServer) -> None:
    alice = await new_user()
    chat_id = await alice.chat("something")
    path = f"/v1/chats/{chat_id}"
    async with alice.client() as client:
        for params, field in (
            ({"cursor": "not-a-cursor"}, "query.cursor"),
            ({"cursor": "eyJ1IjoxfQ"}, "query.cursor"),  # base64 JSON, not a cursor
            ({"limit": "0"}, "query.limit"),
            ({"limit": "201"}, "query.limit"),
            ({"limit": "ten"}, "query.limit"),
            ({"archived": "maybe"}, "query.archived"),
            ({"owner": "x" * 201}, "query.owner"),
            ({"agent": "no agent"}, "query.agent"),
            ({"onwer": alice.id}, "query.onwer"),
        ):
            message = await refused(client.get("/v1/chats", params=params), INVALID, field)
            assert field.split(".")[1] in message, message
        for body, field in (
            ({"title": "x" * 201}, "title"),
            ({"title": "  "}, "title"),
            ({"metadata": {"blob": "x" * 17_000}}, "metadata"),
            ({"metadata": [1, 2]}, "metadata"),
            ({"metadata": {"n": 2**70}}, "metadata"),  # beyond what JSON columns keep
            ({"archived": "perhaps"}, "archived"),
            ({"owner": "someone"}, "owner"),  # an owner is fixed at creation
            ({}, "body"),
        ):
            await refused(client.patch(path, json=body), INVALID, field)
        await refused(client.delete(path, params={"wait": "soon"}), INVALID, "query.wait")
        foreign = {"agent": "quick", "message": "hi", "owner": "someone-else"}
        await refused(client.post(f"{path}/messages", json=foreign), "403 PermissionDeniedError")
    async with gateway.client() as server:
        for body, field in (
            ({}, "body"),
            ({"chat_id": chat_id, "user_id": alice.id}, "body"),
            ({"user_id": ""}, "user_id"),
            ({"user_id": "x" * 201}, "user_id"),
        ):
            await refused(server.post("/v1/tokens", json=body), INVALID, field)
        minted = (await server.post("/v1/tokens", json={"user_id": alice.id})).json()
        assert minted["user_id"] == alice.id and minted["chat_id"] is None
    async with gateway.client(minted["token"]) as client:
        assert ids((await client.get("/v1/chats")).json()) == [chat_id]
    async with gateway.client(gateway.mint_token(chat_id)) as chat_token:
        await refused(chat_token.get("/v1/chats"), "403 PermissionDeniedError")
        renamed = await chat_token.patch(path, json={"title": "by its chat token"})
        assert renamed.json()["title"] == "by its chat token"


async def test_an_api_key_creates_a_chat_for_an_owner(
    new_user: NewUser, gateway: GatewayServer
) -> None:
    alice = await new_user()
    chat_id = f"d-{uuid.uuid4().hex[:10]}"
    async with gateway.client() as server:
        body = {"agent": "quick", "message": "made for alice", "owner": alice.id}
        sent = await server.post(f"/v1/chats/{chat_id}/messages", json=body)
        assert '"turn-end"' in sent.text
        # The owner is fixed: a message for someone else is refused as an unknown chat.
        other = {**body, "owner": "mallory"}
        again = server.post(f"/v1/chats/{chat_id}/messages", json=other)
        await refused(again, "404 ChatNotFoundError")
    assert ids(await alice.listed()) == [chat_id]
