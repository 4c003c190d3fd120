"""Identifier rules: the one definition the client, the gateway, `Agent` and the workflow use.

Chat ids name Temporal workflows and Redis keys; message ids are compared for duplicates;
agent names are chosen by whoever writes the agent. Each crosses a boundary (HTTP path,
Temporal id, stream key), so each has one rule here, as a regular expression the gateway's
OpenAPI schema publishes and a check the Python side runs.
"""

from __future__ import annotations

import re

__all__ = [
    "AGENT_NAME_PATTERN",
    "CHAT_ID_PATTERN",
    "ID_CHARACTERS",
    "MAX_AGENT_NAME_LENGTH",
    "MAX_CHAT_ID_LENGTH",
    "MAX_MESSAGE_ID_LENGTH",
    "MESSAGE_ID_PATTERN",
    "is_agent_name",
    "is_chat_id",
    "is_message_id",
    "safe_id_part",
]

ID_CHARACTERS = "letters, digits and '_.:-'"
"""How error messages describe the characters chat and message ids may use."""

MAX_CHAT_ID_LENGTH = 200
MAX_MESSAGE_ID_LENGTH = 200
MAX_AGENT_NAME_LENGTH = 100

CHAT_ID_PATTERN = rf"^[A-Za-z0-9_.:\-]{{1,{MAX_CHAT_ID_LENGTH}}}$"
MESSAGE_ID_PATTERN = rf"^[A-Za-z0-9_.:\-]{{1,{MAX_MESSAGE_ID_LENGTH}}}$"
AGENT_NAME_PATTERN = rf"^[A-Za-z0-9_.\-]{{1,{MAX_AGENT_NAME_LENGTH}}}$"
"""No ':' in agent names: model strings and sub-chat ids use it as a separator."""

_CHAT_ID = re.compile(CHAT_ID_PATTERN)
_MESSAGE_ID = re.compile(MESSAGE_ID_PATTERN)
_AGENT_NAME = re.compile(AGENT_NAME_PATTERN)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:\-]")


def is_chat_id(value: str) -> bool:
    """Whether `value` is a valid chat id."""
    return _CHAT_ID.fullmatch(value) is not None


def is_message_id(value: str) -> bool:
    """Whether `value` is a valid message id."""
    return _MESSAGE_ID.fullmatch(value) is not None


def is_agent_name(value: str) -> bool:
    """Whether `value` is a valid agent name."""
    return _AGENT_NAME.fullmatch(value) is not None


def safe_id_part(value: str) -> str:
    """`value` with every character a chat id may not hold replaced by '-'."""
    return _UNSAFE.sub("-", value)
