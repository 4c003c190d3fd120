"""The chat page's sidebar in a real headless Chromium, with a user token: the user's chats
newest first, search, opening one, rename, delete and a new chat. Every wait is for a
condition in the page, never a sleep."""

from __future__ import annotations

import uuid

import httpx
from playwright.async_api import Dialog, Page
from playwright.async_api import TimeoutError as PlaywrightTimeout

from tests.gateway.conftest import GatewayServer

SIDEBAR = '[data-testid="sidebar"]'
SEARCH = '[data-testid="chat-search"]'
INPUT = '[data-testid="composer-input"]'
SEND = '[data-testid="send-button"]'

# The titles the sidebar lists, top to bottom.
LISTED = """() => [...document.querySelectorAll('[data-testid="chat-item"]')]
  .map((li) => li.querySelector('[data-testid="chat-title"], input')?.textContent ?? '')"""


def item(chat_id: str) -> str:
    return f'[data-testid="chat-item"][data-chat-id="{chat_id}"]'


async def listed_as(page: Page, titles: list[str]) -> None:
    """Until the sidebar lists exactly `titles`, in this order."""
    try:
        await page.wait_for_function(
            f"(titles) => JSON.stringify(({LISTED})()) === JSON.stringify(titles)", arg=titles
        )
    except PlaywrightTimeout:
        raise AssertionError(f"the sidebar lists {await page.evaluate(LISTED)}") from None


async def chat_of(client: httpx.AsyncClient, text: str) -> str:
    """A new chat of the client's user, whose first turn (`text`) has ended."""
    chat_id = f"side-{uuid.uuid4().hex[:10]}"
    body = {"agent": "quick", "message": text}
    sent = await client.post(f"/v1/chats/{chat_id}/messages", json=body)
    assert sent.status_code == 200 and '"turn-end"' in sent.text, sent.text
    return chat_id


async def test_the_sidebar_lists_searches_opens_renames_and_deletes(
    page: Page, gateway: GatewayServer
) -> None:
    user = f"user-{uuid.uuid4().hex[:10]}"
    token = gateway.mint_user_token(user)
    async with gateway.client(token) as client:
        apples = await chat_of(client, "apples are red")
        bananas = await chat_of(client, "bananas are yellow")
        async with gateway.client() as server:  # another user's chat is never listed
            body = {"agent": "quick", "message": "apples too", "owner": "someone-else"}
            await server.post(f"/v1/chats/side-{uuid.uuid4().hex[:8]}/messages", json=body)

        await page.goto(f"{gateway.url}/?agent=quick&token={token}")
        await page.wait_for_selector(SIDEBAR)
        await listed_as(page, ["bananas are yellow", "apples are red"])

        await page.fill(SEARCH, "appl")
        await listed_as(page, ["apples are red"])
        await page.fill(SEARCH, "")
        await listed_as(page, ["bananas are yellow", "apples are red"])

        # Opening a chat loads its history, and marks it in the list.
        await page.click(f'{item(apples)} [data-testid="chat-title"]')
        await page.wait_for_selector(f'{item(apples)}[aria-current="page"]')
        user_message = page.locator('[data-testid="message"][data-role="user"]')
        await user_message.first.wait_for()
        assert await user_message.first.text_content() == "apples are red"
        await page.wait_for_selector('[data-testid="message"][data-role="assistant"]')

        # Rename: the new title shows, is stored, and the chat moves to the top.
        await page.click(f'{item(apples)} [data-testid="chat-rename"]')
        await page.fill('[data-testid="chat-rename-input"]', "Fruit notes")
        await page.press('[data-testid="chat-rename-input"]', "Enter")
        await listed_as(page, ["Fruit notes", "bananas are yellow"])
        view = (await client.get(f"/v1/chats/{apples}")).json()
        assert view["chat"]["title"] == "Fruit notes"

        # Delete another chat: confirmed, gone from the list and from the gateway.
        dialogs: list[str] = []

        async def accept(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            await dialog.accept()

        page.on("dialog", accept)
        await page.click(f'{item(bananas)} [data-testid="chat-delete"]')
        await listed_as(page, ["Fruit notes"])
        assert dialogs and "bananas are yellow" in dialogs[0]
        assert (await client.get(f"/v1/chats/{bananas}")).status_code == 404

        # New chat: an empty page; its first message lists it at the top once answered.
        await page.click('[data-testid="sidebar-new-chat"]')
        await page.wait_for_function(
            "(old) => new URLSearchParams(location.search).get('chat') !== old", arg=apples
        )
        await page.wait_for_selector(SIDEBAR)
        await listed_as(page, ["Fruit notes"])
        assert await page.locator('[data-testid="message"]').count() == 0
        await page.fill(INPUT, "cherries are dark")
        await page.click(SEND)
        await listed_as(page, ["cherries are dark", "Fruit notes"])
        new_id = await page.evaluate("() => window.agentchat.chatId")
        assert await page.get_attribute(item(new_id), "aria-current") == "page"

        # Deleting the open chat starts a new one.
        await page.click(f'{item(new_id)} [data-testid="chat-delete"]')
        await page.wait_for_function(
            "(old) => new URLSearchParams(location.search).get('chat') !== old", arg=new_id
        )
        await page.wait_for_selector(SIDEBAR)
        await listed_as(page, ["Fruit notes"])
        assert (await client.get(f"/v1/chats/{new_id}")).status_code == 404
        await client.delete(f"/v1/chats/{apples}")
