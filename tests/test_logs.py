"""Logging: a real turn's activity lines carry the chat id and turn, as text and as JSON."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from agentchat import Agent, AgentChat, Settings
from agentchat.errors import ConfigurationError
from agentchat.logs import _CHATTY, configure_logging, current_log_context, log_context
from agentchat.models import OfflineModel
from agentchat.tools import tool
from tests.conftest import StartWorker

NewChat = Callable[..., AgentChat]


@tool
async def explode(reason: str) -> str:
    """Fail on purpose.

    Args:
        reason: Why.
    """
    raise RuntimeError("boom")


@pytest.fixture
def configure() -> Iterator[Callable[[str, str], io.StringIO]]:
    """Factory: `configure_logging` with a format and level, its output captured."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def make(fmt: str, level: str = "DEBUG") -> io.StringIO:
        configure_logging(Settings(log_format=fmt, log_level=level))
        ours = [h for h in root.handlers if h not in handlers]
        assert len(ours) == 1
        out = io.StringIO()
        ours[0].setStream(out)  # type: ignore[attr-defined]
        return out

    yield make
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.NOTSET)


async def run_turn(start_worker: StartWorker, new_chat: NewChat) -> AgentChat:
    agent = Agent(
        name="logged",
        model=OfflineModel(tokens_per_second=0, first_token_delay=0.0),
        tools=[explode],
    )
    await start_worker(agent)
    chat = new_chat(agent="logged", id=f"log-{uuid.uuid4().hex[:8]}")
    await (await chat.send_message("please explode")).result()
    return chat


async def test_json_lines_of_a_turn_carry_its_chat_and_turn(
    configure: Callable[[str, str], io.StringIO], start_worker: StartWorker, new_chat: NewChat
) -> None:
    out = configure("json", "DEBUG")
    chat = await run_turn(start_worker, new_chat)
    # The turn-end activity logs just after its record reaches the reader: give it a moment.
    for _ in range(100):
        if "turn 1 completed" in out.getvalue():
            break
        await asyncio.sleep(0.05)
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]  # every line is JSON
    ours = [line for line in lines if line.get("chat_id") == chat.id]
    activity_lines = [
        line for line in ours if line["logger"] in ("agentchat.activities", "agentchat.tools")
    ]
    messages = {line["message"] for line in activity_lines}
    assert "tool explode failed: RuntimeError: boom" in messages, lines
    assert "step 1 done: tool-calls" in messages and "turn 1 completed" in messages
    for line in activity_lines:
        assert line["turn"] == 1
        assert set(line) >= {"ts", "level", "logger", "message", "chat_id", "turn"}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["ts"])


async def test_text_lines_keep_their_look_and_add_chat_and_turn(
    configure: Callable[[str, str], io.StringIO], start_worker: StartWorker, new_chat: NewChat
) -> None:
    out = configure("text", "INFO")
    chat = await run_turn(start_worker, new_chat)
    pattern = (
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO agentchat\.tools: "
        rf"tool explode failed: RuntimeError chat={re.escape(chat.id)} turn=1"
    )
    assert re.search(pattern, out.getvalue()), out.getvalue()
    assert "DEBUG" not in out.getvalue()
    assert "boom" not in out.getvalue()  # a tool's own error text stays at DEBUG


def test_temporal_loggers_extras_give_the_chat_id(
    configure: Callable[[str, str], io.StringIO],
) -> None:
    out = configure("json", "INFO")
    extra: dict[str, Any] = {"temporal_workflow": {"workflow_id": "chat:review-42"}}
    logging.getLogger("temporalio.workflow").warning("preload failed", extra=extra)
    line = orjson.loads(out.getvalue())
    assert line["chat_id"] == "review-42" and "turn" not in line


def test_json_carries_exceptions_and_context_nests(
    configure: Callable[[str, str], io.StringIO],
) -> None:
    out = configure("json", "INFO")
    log = logging.getLogger("agentchat.test")
    with log_context(chat_id="c1"), log_context(turn=4):
        assert current_log_context() == ("c1", 4)
        try:
            raise ValueError("bad")
        except ValueError:
            log.exception("it failed")
    assert current_log_context() == (None, None)
    log.info("outside")
    inside, outside = (orjson.loads(line) for line in out.getvalue().splitlines())
    assert (inside["chat_id"], inside["turn"], inside["level"]) == ("c1", 4, "ERROR")
    assert "ValueError: bad" in inside["exc_info"]
    assert "chat_id" not in outside and "exc_info" not in outside


def test_a_line_per_http_request_only_at_debug(
    configure: Callable[[str, str], io.StringIO],
) -> None:
    out = configure("text", "INFO")
    logging.getLogger("httpx2").info("HTTP Request: POST /v1/chat/completions")
    logging.getLogger("httpx2").warning("connection reset")
    assert "HTTP Request" not in out.getvalue() and "connection reset" in out.getvalue()
    out = configure("text", "DEBUG")
    logging.getLogger("httpx").info("HTTP Request: POST /v1/chat/completions")
    assert "HTTP Request" in out.getvalue()


def test_configuring_twice_keeps_one_handler_and_bad_settings_are_named(
    configure: Callable[[str, str], io.StringIO],
) -> None:
    configure("text", "INFO")
    configure("json", "WARNING")  # the factory asserts exactly one handler of ours
    assert logging.getLogger().level == logging.WARNING
    with pytest.raises(ConfigurationError, match="AGENTCHAT_LOG_FORMAT"):
        configure_logging(Settings(log_format="xml"))
    with pytest.raises(ConfigurationError, match="AGENTCHAT_LOG_LEVEL"):
        configure_logging(Settings(log_level="LOUD"))
