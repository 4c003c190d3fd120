"""The chat page and the agent protocol, in real Chromium against a real gateway and worker:
trigger buttons (`GET /v1/agents/{agent}`), a trigger's input form, operations, resources,
tool display modes, a named thread's answer and hidden messages, live and after a reload.
Every wait is for a condition in the page, never a sleep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page
from pydantic import BaseModel

from agentchat import Agent, Settings
from agentchat.connections import get_redis
from agentchat.models import OfflineModel
from agentchat.tools import tool
from agentchat.triggers import AddMessage, Resource, Respond, SetResource, StartThread, Trigger
from agentchat.worker._registry import register_agents
from tests import agents
from tests.conftest import StartWorker
from tests.gateway.conftest import GatewayServer, running_gateway
from tests.gateway.test_page import assistant, new_chat_id, open_chat, send, transcript


class Note(BaseModel):
    TEXT: str
    PRIORITY: int = 1


@tool(display="name")
async def lookup(query: str) -> str:
    """Look something up.

    Args:
        query: What to look up.
    """
    return f"found {query}"


@tool(display="description")
async def explain(query: str) -> str:
    """Explains the note to the team.

    Args:
        query: What to explain.
    """
    return f"explained {query}"


@tool(display="hidden")
async def secret(query: str) -> str:
    """A tool clients never see.

    Args:
        query: Anything.
    """
    return "classified"


opsy = Agent(
    name="opsy",
    model=OfflineModel(tokens_per_second=0, first_token_delay=0.0),
    tools=[lookup, explain, secret],
    resources=[Resource("NOTE", default="", description="the latest note")],
    triggers=[
        Trigger(
            "note",
            "Save a note",
            input=Note,
            steps=[
                AddMessage("user", "please run lookup, explain and secret: {{TEXT}}", hidden=True),
                SetResource("NOTE", "{{TEXT}}"),
                Respond(),
            ],
        ),
        Trigger(
            "summarize",
            "Summarise in a side thread",
            steps=[
                StartThread("summary", instructions="Summarise."),
                AddMessage("user", "summarise the chat", thread="summary"),
                Respond(thread="summary"),
            ],
        ),
    ],
)

TRIGGER = '[data-testid="trigger-button"][data-trigger="{}"]'
FORM = '[data-testid="trigger-form"]'


@pytest.fixture
async def gateway(
    settings: Settings, start_worker: StartWorker, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[GatewayServer]:
    """A gateway in front of one worker serving the test agents and `opsy`, registered as
    `run_worker` registers them."""
    monkeypatch.setenv("TOOL_LOG", str(tmp_path / "tool.log"))
    await start_worker(*agents.all, opsy)
    await register_agents(await get_redis(settings), [*agents.all, opsy], settings.task_queue)
    async with running_gateway(settings) as server:
        yield server


# What the page shows of its messages: [{role, text, operations, tools, threads}].
READ_PAGE = """() => [...document.querySelectorAll('[data-testid="message"]')].map((m) => ({
  role: m.dataset.role,
  status: m.dataset.status,
  text: [...m.querySelectorAll('[data-testid="message-text"]')]
    .filter((t) => !t.closest('[data-testid="thread-box"]'))
    .map((t) => t.textContent).join(''),
  operations: [...m.querySelectorAll('[data-testid="operation"]')].map((o) => ({
    kind: o.dataset.kind, status: o.dataset.status,
    label: o.querySelector('[data-testid="operation-label"]').textContent,
  })),
  tools: [...m.querySelectorAll('[data-testid="tool-card"]')].map((c) => ({
    name: c.dataset.toolName, display: c.dataset.display,
    description: c.querySelector('[data-testid="tool-description"]')?.textContent ?? null,
    input: Boolean(c.querySelector('[data-testid="tool-input"]')),
    output: Boolean(c.querySelector('[data-testid="tool-output"]')),
  })),
  threads: [...m.querySelectorAll('[data-testid="thread-box"]')].map((b) => ({
    name: b.dataset.thread, open: b.open,
    title: b.querySelector('[data-testid="thread-name"]').textContent,
    text: b.querySelector('.thread-body').textContent,
  })),
}))"""

RESOURCES = """() => Object.fromEntries([...document.querySelectorAll('[data-testid="resource"]')]
  .map((r) => [r.dataset.name, r.querySelector('[data-testid="resource-value"]').textContent]))"""


async def resource_is(page: Page, name: str, value: str) -> None:
    await page.wait_for_function(
        """([name, value]) => {
          const row = document.querySelector(`[data-testid="resource"][data-name="${name}"]`);
          return row && row.querySelector('[data-testid="resource-value"]').textContent === value;
        }""",
        arg=[name, value],
    )


def noted(shown: list[dict[str, Any]]) -> None:
    """The `note` trigger's turn, as the page shows it: no message but the answer."""
    assert [m["role"] for m in shown] == ["assistant"], shown
    (answer,) = shown
    assert answer["status"] == "completed"
    assert answer["operations"] == [
        {"kind": "set_resource", "status": "done", "label": "Set NOTE"}
    ], answer
    tools = {t["name"]: t for t in answer["tools"]}
    assert set(tools) == {"lookup", "explain"}, answer["tools"]  # `secret` is hidden
    assert tools["lookup"] == {
        "name": "lookup",
        "display": "name",
        "description": None,
        "input": False,
        "output": False,
    }
    assert tools["explain"]["display"] == "description"
    assert tools["explain"]["description"] == "Explains the note to the team."
    assert not tools["explain"]["input"] and not tools["explain"]["output"]
    assert answer["text"].startswith("Here is what the tools returned"), answer


async def test_trigger_buttons_forms_operations_resources_and_display(
    page: Page, gateway: GatewayServer
) -> None:
    chat_id = new_chat_id("protocol")
    await open_chat(page, gateway, chat_id, "opsy")
    await page.wait_for_selector(TRIGGER.format("note"))
    await page.wait_for_selector(TRIGGER.format("summarize"))
    assert await page.get_attribute(TRIGGER.format("note"), "title") == "Save a note"
    # A new chat: the resources panel shows the defaults.
    await resource_is(page, "NOTE", "")

    # A trigger with input opens its form; a required field is enforced.
    await page.click(TRIGGER.format("note"))
    await page.wait_for_selector(FORM)
    fields = page.locator(f'{FORM} [data-testid="trigger-field"]')
    assert await fields.count() == 2
    assert await page.get_attribute('[data-field="TEXT"]', "required") is not None
    assert await page.input_value('[data-field="PRIORITY"]') == "1"
    await page.click('[data-testid="trigger-submit"]')
    assert await page.is_visible(FORM)  # TEXT is empty: nothing sent
    assert await page.locator('[data-testid="message"]').count() == 0

    await page.fill('[data-field="TEXT"]', "buy milk")
    await page.click('[data-testid="trigger-submit"]')
    await page.wait_for_selector(FORM, state="hidden")
    # Streams like a message: the operation, the resource, the answer.
    await page.wait_for_selector('[data-testid="operation"][data-kind="set_resource"]')
    await resource_is(page, "NOTE", "buy milk")
    await page.wait_for_selector(
        '[data-testid="operation"][data-kind="set_resource"][data-status="done"]'
    )
    await page.wait_for_selector(assistant("completed"))
    await page.wait_for_selector('[data-testid="tool-card"][data-tool-name="explain"]')
    noted(await page.evaluate(READ_PAGE))

    chat = await transcript(gateway, chat_id)
    hidden = [m for m in chat["messages"] if (m.get("metadata") or {}).get("hidden")]
    assert len(hidden) == 1 and hidden[0]["role"] == "user", chat["messages"]

    # The same after a reload: the hidden message stays hidden, the parts as they were.
    await page.reload()
    await page.wait_for_selector(assistant("completed"))
    await page.wait_for_selector('[data-testid="tool-card"][data-tool-name="explain"]')
    await resource_is(page, "NOTE", "buy milk")
    noted(await page.evaluate(READ_PAGE))
    assert await page.evaluate(RESOURCES) == {"NOTE": "buy milk"}


async def test_a_named_threads_answer_shows_in_a_collapsed_box(
    page: Page, gateway: GatewayServer
) -> None:
    chat_id = new_chat_id("thread")
    await open_chat(page, gateway, chat_id, "opsy")
    await send(page, "hello there")
    await page.wait_for_selector(assistant("completed"))
    # A trigger without input runs at once.
    await page.click(TRIGGER.format("summarize"))
    await page.wait_for_selector('[data-testid="thread-box"][data-thread="summary"]')
    await page.wait_for_function(
        """() => document.querySelectorAll(
          '[data-testid="message"][data-role="assistant"][data-status="completed"]').length === 2"""
    )

    def check(shown: list[dict[str, Any]]) -> None:
        assert [m["role"] for m in shown] == ["user", "assistant", "assistant"], shown
        answer = shown[-1]
        (box,) = answer["threads"]
        assert box["name"] == box["title"] == "summary" and box["open"] is False
        assert box["text"].startswith("You said: summarise the chat"), box
        assert answer["text"] == "", answer  # nothing of it in the main answer

    check(await page.evaluate(READ_PAGE))
    # History keeps the thread's answer in the turn's message as a `data-thread` part (the
    # thread's messages are the chat's apart): the reload shows the same box.
    await page.reload()
    await page.wait_for_selector('[data-testid="thread-box"][data-thread="summary"]')
    check(await page.evaluate(READ_PAGE))
