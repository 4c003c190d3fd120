"""The chat page's files, in a real headless Chromium against a real gateway: the attach
button, dropping a file on the page, image previews in the transcript (also after a reload),
and a refused file shown in the banner with nothing sent."""

from __future__ import annotations

import base64
import hashlib

from playwright.async_api import FilePayload, Page

from tests.gateway.conftest import GatewayServer
from tests.gateway.test_page import (
    BANNER,
    INPUT,
    SEND,
    assistant,
    new_chat_id,
    open_chat,
    transcript,
)

# A real 1x1 PNG, so the preview loads as an image.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
FILE_INPUT = '[data-testid="file-input"]'
CHIP = '[data-testid="attachment"]'
PREVIEW = '[data-testid="message"][data-role="user"] [data-testid="message-file"] img'

# Drop files on the page as a person dragging them from their desktop would.
DROP = """([name, type, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  const app = document.querySelector('.app');
  for (const kind of ['dragover', 'drop']) {
    const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
    app.dispatchEvent(new DragEvent(kind, init));
  }
}"""
LOADED = """(selector) => [...document.querySelectorAll(selector)]
  .some((img) => img.complete && img.naturalWidth > 0)"""


async def test_attach_send_and_preview(page: Page, gateway: GatewayServer) -> None:
    chat_id = new_chat_id("files")
    await open_chat(page, gateway, chat_id, "quick")
    await page.set_input_files(
        FILE_INPUT, files=[FilePayload(name="dot.png", mimeType="image/png", buffer=PNG)]
    )
    await page.evaluate(DROP, ["notes.txt", "text/plain", base64.b64encode(b"hello").decode()])
    await page.wait_for_function(
        "(s) => document.querySelectorAll(s).length === 2 &&"
        " ![...document.querySelectorAll(s)].some((c) => c.classList.contains('uploading'))",
        arg=CHIP,
    )
    await page.fill(INPUT, "what is this?")
    await page.click(SEND)
    await page.wait_for_selector(assistant("completed"))
    await page.wait_for_function(LOADED, arg=PREVIEW)  # the preview fetched with the token
    assert await page.locator(CHIP).count() == 0
    chat = await transcript(gateway, chat_id)
    user, answer = chat["messages"]
    files = [p for p in user["parts"] if p["type"] == "file"]
    ref = "sha256-" + hashlib.sha256(PNG).hexdigest()
    assert [(f["mediaType"], f["filename"]) for f in files] == [
        ("image/png", "dot.png"),
        ("text/plain", "notes.txt"),
    ]
    assert files[0]["url"] == f"/v1/chats/{chat_id}/files/{ref}"
    text = "".join(p.get("text", "") for p in answer["parts"] if p["type"] == "text")
    assert "[file 'dot.png' (image/png): attached]" in text
    # After a reload the transcript shows the preview again.
    await page.reload()
    await page.wait_for_function(LOADED, arg=PREVIEW)
    link = page.locator('[data-testid="message-file"]').nth(1)
    assert await link.text_content() == "notes.txt"


async def test_a_refused_file_shows_in_the_banner(page: Page, gateway: GatewayServer) -> None:
    chat_id = new_chat_id("badfile")
    await open_chat(page, gateway, chat_id, "quick")
    await page.set_input_files(
        FILE_INPUT,
        files=[FilePayload(name="x.svg", mimeType="image/svg+xml", buffer=b"<svg/>")],
    )
    await page.wait_for_selector(f"{BANNER}:not([hidden])")
    assert "image/svg+xml" in (await page.locator(BANNER).text_content() or "")
    assert await page.locator(CHIP).count() == 0
    async with gateway.client() as client:
        assert (await client.get(f"/v1/chats/{chat_id}")).status_code == 404
