"""The chat page at `/`, driven in a real headless Chromium against a real gateway.

What a person does: send a message and watch it stream, reload mid-answer, stop an answer,
watch a tool run and a sub-agent work. Every wait is for a condition in the page, never a sleep.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from playwright.async_api import Page

from tests.gateway.conftest import GatewayServer

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "gateway-page.png"

# Hooks of the page (agentchat/gateway/static/index.html and js/render.js).
MESSAGES = '[data-testid="message-list"]'
INPUT = '[data-testid="composer-input"]'
SEND = '[data-testid="send-button"]'
STEER = '[data-testid="steer-button"]'
STOP = '[data-testid="stop-button"]'
BANNER = '[data-testid="error-banner"]'


def assistant(status: str | None = None) -> str:
    selector = '[data-testid="message"][data-role="assistant"]'
    return f'{selector}[data-status="{status}"]' if status else selector


# The text of the page's assistant messages, as the page shows it: [{id, status, text}].
READ_ASSISTANTS = """() => [...document.querySelectorAll(
    '[data-testid="message"][data-role="assistant"]')].map((m) => ({
  id: m.dataset.messageId,
  status: m.dataset.status,
  text: [...m.querySelectorAll('[data-testid="message-text"]')]
    .map((t) => t.textContent).join(''),
}))"""


def new_chat_id(what: str) -> str:
    return f"page-{what}-{uuid.uuid4().hex[:12]}"


async def open_chat(page: Page, gateway: GatewayServer, chat_id: str, agent: str) -> None:
    token = gateway.mint_token(chat_id)
    await page.goto(f"{gateway.url}/?chat={chat_id}&agent={agent}&token={token}")
    await page.wait_for_selector(MESSAGES, state="attached")
    await page.wait_for_selector(INPUT)


async def send(page: Page, text: str) -> None:
    await page.fill(INPUT, text)
    await page.click(SEND)


async def transcript(gateway: GatewayServer, chat_id: str) -> dict[str, Any]:
    async with gateway.client() as client:
        response = await client.get(f"/v1/chats/{chat_id}")
    assert response.status_code == 200, response.text
    chat: dict[str, Any] = response.json()
    return chat


def text_of(message: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in message["parts"] if p.get("type") == "text")


async def wait_for_text(page: Page, fragment: str) -> None:
    """Until the newest assistant message shows `fragment` (and is still being written)."""
    await page.wait_for_function(
        """(fragment) => {
          const all = document.querySelectorAll('[data-testid="message"][data-role="assistant"]');
          const last = all[all.length - 1];
          return last && last.textContent.includes(fragment);
        }""",
        arg=fragment,
    )


async def test_reload_mid_answer_completes_it_exactly_once(
    page: Page, gateway: GatewayServer
) -> None:
    chat_id = new_chat_id("reload")
    await open_chat(page, gateway, chat_id, "slow")
    await send(page, "tell me a long story")

    # The user's message shows at once, before any answer.
    user = page.locator('[data-testid="message"][data-role="user"]')
    await user.first.wait_for()
    assert await user.first.text_content() == "tell me a long story"

    # Streaming: the answer grows word by word while the message is marked as streaming.
    await page.wait_for_selector(assistant("streaming"))
    await wait_for_text(page, "word3")
    before = await page.evaluate(READ_ASSISTANTS)
    assert len(before) == 1 and before[0]["status"] == "streaming", before
    assert "word79" not in before[0]["text"], "the answer finished before the reload"
    assert await page.is_visible(STOP) and await page.is_visible(STEER)

    await page.reload()
    # The page restores the transcript, then the stream replays the turn and completes it.
    await page.wait_for_selector(assistant("completed"))
    await wait_for_text(page, "word79")
    shown = await page.evaluate(READ_ASSISTANTS)

    chat = await transcript(gateway, chat_id)
    expected = [m for m in chat["messages"] if m["role"] == "assistant"]
    assert len(expected) == 1
    assert shown == [{"id": expected[0]["id"], "status": "completed", "text": text_of(expected[0])}]
    assert shown[0]["text"].count("word79") == 1
    assert shown[0]["text"].startswith("You said: tell me a long story.")
    # Exactly one user message too: the transcript's, not a second copy.
    users = page.locator('[data-testid="message"][data-role="user"]')
    assert await users.count() == 1
    assert await users.first.get_attribute("data-message-id") == chat["messages"][0]["id"]
    # Idle again: the composer sends.
    await page.wait_for_selector(f"{SEND}:visible")
    assert not await page.is_visible(STOP)
    assert not await page.is_visible(BANNER)


async def test_stop_button_stops_the_answer(page: Page, gateway: GatewayServer) -> None:
    chat_id = new_chat_id("stop")
    await open_chat(page, gateway, chat_id, "slow")
    await send(page, "count slowly")
    await wait_for_text(page, "word2")
    await page.click(STOP)

    await page.wait_for_selector(assistant("stopped"))
    await page.wait_for_selector(f"{SEND}:visible")  # the turn is over: the composer sends
    assert not await page.is_visible(STOP)

    chat = await transcript(gateway, chat_id)
    (answer,) = [m for m in chat["messages"] if m["role"] == "assistant"]
    assert (answer.get("metadata") or {}).get("status") == "stopped"
    partial = text_of(answer)
    assert "word2" in partial and "word79" not in partial
    # The partial text is kept on the page, as the transcript has it.
    await page.wait_for_function(
        """(expected) => {
          const m = document.querySelector('[data-testid="message"][data-role="assistant"]');
          return [...m.querySelectorAll('[data-testid="message-text"]')]
            .map((t) => t.textContent).join('') === expected;
        }""",
        arg=partial,
    )
    assert await page.is_visible('[data-testid="message-stopped"]')
    assert not await page.is_visible(BANNER)


async def test_tool_turn_shows_a_tool_card(page: Page, gateway: GatewayServer) -> None:
    chat_id = new_chat_id("tool")
    await open_chat(page, gateway, chat_id, "tooly")
    await send(page, "please use the slow tool to water the plants")

    card = page.locator('[data-testid="tool-card"][data-tool-name="slow_tool"]')
    await card.wait_for()
    await page.wait_for_selector('[data-testid="tool-card"][data-state="done"]')
    await page.wait_for_selector(assistant("completed"))
    assert await card.count() == 1
    assert await card.locator('[data-testid="tool-name"]').text_content() == "slow_tool"
    request = "please use the slow tool to water the plants"
    assert request in (await card.locator('[data-testid="tool-input"]').text_content() or "")
    output = await card.locator('[data-testid="tool-output"] pre').text_content()
    assert output == f"done: {request}"

    chat = await transcript(gateway, chat_id)
    (answer,) = [m for m in chat["messages"] if m["role"] == "assistant"]
    (shown,) = await page.evaluate(READ_ASSISTANTS)
    assert shown["text"] == text_of(answer)
    assert shown["text"].startswith("Here is what the tools returned: done:")

    if os.environ.get("AGENTCHAT_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        await page.set_viewport_size({"width": 960, "height": 580})
        await page.locator(INPUT).blur()
        await page.screenshot(path=str(SCREENSHOT))


async def test_sub_agent_progress_shows_in_the_tool_card(
    page: Page, gateway: GatewayServer
) -> None:
    chat_id = new_chat_id("lead")
    await open_chat(page, gateway, chat_id, "lead")
    await send(page, "ask researcher about the tides")

    card = page.locator('[data-testid="tool-card"][data-tool-name="ask_researcher"]')
    await card.wait_for()
    # The researcher's answer grows inside the card while it works.
    progress = card.locator('[data-testid="tool-progress"]')
    await progress.wait_for()
    assert "researcher is working" in (await progress.text_content() or "")
    first = await page.wait_for_function(
        """() => {
          const p = document.querySelector('[data-testid="tool-progress"] .progress-text');
          return p && p.textContent.length > 0 ? p.textContent.length : 0;
        }"""
    )
    grown = await page.wait_for_function(
        """(seen) => {
          const p = document.querySelector('[data-testid="tool-progress"] .progress-text');
          return p && p.textContent.length > seen ? p.textContent : null;
        }""",
        arg=await first.json_value(),
    )
    partial = await grown.json_value()

    # When the researcher answers, the card holds its answer and the lead turns it into text.
    await page.wait_for_selector(
        '[data-testid="tool-card"][data-tool-name="ask_researcher"][data-state="done"]'
    )
    await page.wait_for_selector(assistant("completed"))
    output = await card.locator('[data-testid="tool-output"] pre').text_content() or ""
    assert output.startswith("You said: ask researcher about the tides") and "word39" in output
    assert output.startswith(partial) and len(output) > len(partial)  # it was still growing

    chat = await transcript(gateway, chat_id)
    (answer,) = [m for m in chat["messages"] if m["role"] == "assistant"]
    (shown,) = await page.evaluate(READ_ASSISTANTS)
    assert shown["text"] == text_of(answer)
    assert shown["text"].startswith("Here is what the tools returned: You said:")


async def test_a_refused_call_shows_a_dismissible_banner(
    page: Page, gateway: GatewayServer
) -> None:
    chat_id = new_chat_id("refused")
    other = gateway.mint_token(new_chat_id("other"))  # a token for another chat: 403
    await page.goto(f"{gateway.url}/?chat={chat_id}&agent=quick&token={other}")
    banner = page.locator(BANNER)
    await banner.wait_for()
    assert "PermissionDeniedError" in (await banner.text_content() or "")
    # The event stream is refused too, and the page does not keep knocking.
    await page.wait_for_selector('[data-testid="connection"][data-state="closed"]')
    await page.click('[data-testid="error-dismiss"]')
    await banner.wait_for(state="hidden")

    await send(page, "hello?")
    await banner.wait_for()
    assert "PermissionDeniedError" in (await banner.text_content() or "")
    # The message was not accepted: it is gone from the thread and back in the composer.
    assert await page.locator('[data-testid="message"]').count() == 0
    assert await page.input_value(INPUT) == "hello?"
