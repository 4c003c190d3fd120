"""Logging: chat id and turn on every line, text or JSON.

Activities and gateway handlers put the chat they work for into a context variable
(`log_context`), which asyncio copies into every task they start; the handler adds it to each
record. Records from temporalio's `workflow.logger` and `activity.logger` carry the workflow
id in their extras, from which the chat id is recovered when no context is set.

```
2026-01-02 10:11:12,345 INFO agentchat.tools: tool lookup failed: KeyError chat=review-42 turn=3
{"ts":"2026-01-02T10:11:12.345+00:00","level":"INFO","logger":"agentchat.tools",
 "message":"tool lookup failed: KeyError","chat_id":"review-42","turn":3}
```
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from agentchat.errors import ConfigurationError
from agentchat.settings import Settings

__all__ = [
    "JsonFormatter",
    "TextFormatter",
    "bind_log_context",
    "configure_logging",
    "current_log_context",
    "log_context",
]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET")
# Workflow ids are `chat:<chat id>` (see `agentchat.workflows.chat.workflow_id_for`); the
# workflows package is not imported here, to keep logging free of Temporal's sandbox imports.
_WORKFLOW_ID_PREFIX = "chat:"

_chat_id: ContextVar[str | None] = ContextVar("agentchat_chat_id", default=None)
_turn: ContextVar[int | None] = ContextVar("agentchat_turn", default=None)


@contextlib.contextmanager
def log_context(chat_id: str | None = None, turn: int | None = None) -> Iterator[None]:
    """Tag every log line inside the block (and tasks started in it) with a chat and turn.

    A field left as None keeps the value of an enclosing context.
    """
    chat_token = _chat_id.set(chat_id) if chat_id is not None else None
    turn_token = _turn.set(turn) if turn is not None else None
    try:
        yield
    finally:
        if turn_token is not None:
            _turn.reset(turn_token)
        if chat_token is not None:
            _chat_id.reset(chat_token)


def bind_log_context(chat_id: str | None = None, turn: int | None = None) -> None:
    """Set the chat and turn for the rest of the current task (e.g. one HTTP request).

    Only for code that runs in a task of its own, such as a request handler: the value stays
    until the task ends.
    """
    if chat_id is not None:
        _chat_id.set(chat_id)
    if turn is not None:
        _turn.set(turn)


def current_log_context() -> tuple[str | None, int | None]:
    """The chat id and turn log lines are tagged with here."""
    return _chat_id.get(), _turn.get()


def _record_context(record: logging.LogRecord) -> tuple[str | None, int | None]:
    chat_id, turn = _chat_id.get(), _turn.get()
    if chat_id is None:
        # temporalio's workflow and activity loggers put their info into the record extras.
        for attr in ("temporal_workflow", "temporal_activity"):
            info = getattr(record, attr, None)
            if isinstance(info, dict):
                workflow_id = str(info.get("workflow_id") or "")
                if workflow_id.startswith(_WORKFLOW_ID_PREFIX):
                    chat_id = workflow_id[len(_WORKFLOW_ID_PREFIX) :]
                    break
    return chat_id, turn


class TextFormatter(logging.Formatter):
    """The classic line, plus ` chat=<id> turn=<n>` when known."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        chat_id, turn = _record_context(record)
        if chat_id is None and turn is None:
            return line
        suffix = f" chat={chat_id}" if chat_id is not None else ""
        suffix += f" turn={turn}" if turn is not None else ""
        # Keep a traceback below the line it belongs to.
        head, sep, rest = line.partition("\n")
        return f"{head}{suffix}{sep}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, chat_id, turn, exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        chat_id, turn = _record_context(record)
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if chat_id is not None:
            entry["chat_id"] = chat_id
        if turn is not None:
            entry["turn"] = turn
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        # default=str: a log call must never fail on an odd argument.
        return orjson.dumps(entry, default=str).decode()


class _AgentChatHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler `configure_logging` installed, so a second call replaces it."""


_CHATTY = ("httpx", "httpx2")
"""Loggers that log each HTTP request at INFO."""


def configure_logging(settings: Settings) -> None:
    """Configure the root logger from `settings.log_format` and `settings.log_level`.

    Idempotent: a second call replaces the handler the first one installed. Handlers others
    added (pytest's, an application's) are left alone.

    Args:
        settings: `log_format` is `text` or `json` (`AGENTCHAT_LOG_FORMAT`), `log_level` a
            standard level name (`AGENTCHAT_LOG_LEVEL`).

    Raises:
        ConfigurationError: an unknown format or level.
    """
    fmt = settings.log_format.strip().lower()
    formatter: logging.Formatter
    if fmt == "text":
        formatter = TextFormatter()
    elif fmt == "json":
        formatter = JsonFormatter()
    else:
        raise ConfigurationError(
            f"unknown log format {settings.log_format!r}: set AGENTCHAT_LOG_FORMAT to"
            " 'text' or 'json'"
        )
    level = settings.log_level.strip().upper()
    if level not in _LEVELS:
        raise ConfigurationError(
            f"unknown log level {settings.log_level!r}: set AGENTCHAT_LOG_LEVEL to one of"
            f" {', '.join(_LEVELS[:-1])}"
        )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _AgentChatHandler)]:
        root.removeHandler(old)
        old.close()
    handler = _AgentChatHandler(sys.stderr)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)
    # The model SDK's HTTP library logs every request at INFO, one line per LLM step: kept
    # for DEBUG, where a request trace is what was asked for.
    quiet = logging.DEBUG if level == "DEBUG" else max(logging.WARNING, root.level)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(quiet)
