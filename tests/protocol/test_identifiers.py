"""One rule per identifier: Agent, AgentChat, the workflow and the gateway accept the same ones."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

from agentchat import Agent, AgentChat
from agentchat.errors import ConfigurationError, InvalidMessageError
from agentchat.protocol.identifiers import (
    AGENT_NAME_PATTERN,
    CHAT_ID_PATTERN,
    MESSAGE_ID_PATTERN,
    is_agent_name,
    is_chat_id,
    is_message_id,
    safe_id_part,
)
from agentchat.protocol.limits import check_user_message
from agentchat.protocol.messages import user_message

AGENT_NAMES = ["demo", "a.b-c_d", "x" * 100, "", "x" * 101, "ns:agent", "has space", "ü"]
CHAT_IDS = ["c", "user:42.chat-1_a", "x" * 200, "", "x" * 201, "a/b", "a b", "{}"]


@pytest.mark.parametrize("name", AGENT_NAMES)
def test_agent_and_client_take_the_same_agent_names(name: str) -> None:
    valid = is_agent_name(name)
    assert valid == (re.fullmatch(AGENT_NAME_PATTERN, name) is not None)
    if valid:
        Agent(name=name)
        AgentChat(agent=name, id="c")
    else:
        with pytest.raises(ConfigurationError):
            Agent(name=name)
        with pytest.raises(ValueError):
            AgentChat(agent=name, id="c")


@pytest.mark.parametrize("chat_id", CHAT_IDS)
def test_the_client_takes_exactly_the_valid_chat_ids(chat_id: str) -> None:
    assert is_chat_id(chat_id) == (re.fullmatch(CHAT_ID_PATTERN, chat_id) is not None)
    if is_chat_id(chat_id):
        assert AgentChat(agent="demo", id=chat_id).id == chat_id
    else:
        with pytest.raises(ValueError, match="chat id"):
            AgentChat(agent="demo", id=chat_id)


@pytest.mark.parametrize("message_id", CHAT_IDS)
def test_messages_take_exactly_the_valid_message_ids(message_id: str) -> None:
    assert is_message_id(message_id) == (re.fullmatch(MESSAGE_ID_PATTERN, message_id) is not None)
    message = user_message("hi", message_id)
    if is_message_id(message_id):
        check_user_message(message)
    else:
        with pytest.raises(InvalidMessageError, match="id must be"):
            check_user_message(message)


def test_a_safe_id_part_is_always_a_valid_chat_id() -> None:
    for raw in ["a/b c", "ü:ok", "{x}"]:
        assert is_chat_id(safe_id_part(raw))


def published_patterns(model: type[BaseModel], field: str) -> list[str]:
    """The `pattern`s a model's JSON schema (what the OpenAPI document shows) gives a field."""
    schema = model.model_json_schema()["properties"][field]
    return [option["pattern"] for option in schema.get("anyOf", [schema]) if "pattern" in option]


def test_the_gateway_publishes_the_same_patterns() -> None:
    from agentchat.gateway import schemas

    assert published_patterns(schemas.TokenBody, "chat_id") == [CHAT_ID_PATTERN]
    assert schemas.AGENT_PATTERN == AGENT_NAME_PATTERN
    assert published_patterns(schemas.SendBody, "message_id") == [MESSAGE_ID_PATTERN]
    assert published_patterns(schemas.SteerBody, "message_id") == [MESSAGE_ID_PATTERN]
