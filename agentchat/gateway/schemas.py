"""Request and answer bodies of the native API; unknown fields are refused with a 422."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentchat.protocol.contracts import ChatStatus, SendAck
from agentchat.protocol.identifiers import AGENT_NAME_PATTERN, CHAT_ID_PATTERN, MESSAGE_ID_PATTERN
from agentchat.protocol.messages import UIMessage

__all__ = [
    "AnswerAck",
    "ApprovalBody",
    "ChatView",
    "CloseBody",
    "ErrorBody",
    "PreloadBody",
    "SendAckBody",
    "SendBody",
    "SteerBody",
    "StopBody",
    "TokenBody",
    "TokenView",
    "ToolResultBody",
]

# The rules `Agent`, `AgentChat` and the workflow apply, published in the OpenAPI schema.
AGENT_PATTERN = AGENT_NAME_PATTERN


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SendBody(_Strict):
    agent: str | None = Field(
        default=None,
        pattern=AGENT_PATTERN,
        description="The agent; needed for a new chat unless the token or gateway names one.",
    )
    message: str | UIMessage = Field(description="Text, or an AI SDK UIMessage (role user).")
    message_id: str | None = Field(
        default=None,
        pattern=MESSAGE_ID_PATTERN,
        description="Makes the send idempotent: a resend streams the original turn.",
    )
    client_data: dict[str, Any] | None = None


class SteerBody(_Strict):
    agent: str | None = Field(default=None, pattern=AGENT_PATTERN)
    message: str | UIMessage
    message_id: str | None = Field(default=None, pattern=MESSAGE_ID_PATTERN)


class StopBody(_Strict):
    reason: str | None = Field(default=None, max_length=1000)


class PreloadBody(_Strict):
    agent: str | None = Field(default=None, pattern=AGENT_PATTERN)
    client_data: dict[str, Any] | None = None


class CloseBody(_Strict):
    wait: bool = Field(default=False, description="Answer only once the run has ended.")


class ToolResultBody(_Strict):
    tool_call_id: str = Field(min_length=1, max_length=200)
    output: Any = None
    error: str | None = Field(default=None, max_length=10_000)


class ApprovalBody(_Strict):
    approved: bool
    reason: str | None = Field(default=None, max_length=10_000)


class TokenBody(_Strict):
    chat_id: str = Field(pattern=CHAT_ID_PATTERN)
    agent: str | None = Field(default=None, pattern=AGENT_PATTERN)
    ttl_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600)


class TokenView(BaseModel):
    token: str
    chat_id: str
    expires_at: int


class SendAckBody(BaseModel):
    message_id: str
    run_id: str
    new_run: bool
    duplicate: bool
    turn: int | None = None
    injected: bool = False
    after: str | None = Field(default=None, description="The cursor the message's turn follows.")

    @classmethod
    def of(cls, ack: SendAck, after: str | None = None) -> SendAckBody:
        fields = ack.model_dump(include=set(cls.model_fields) - {"after"})
        return cls(**fields, after=after)


class AnswerAck(BaseModel):
    turn: int | None


class ChatView(BaseModel):
    id: str
    agent: str
    status: ChatStatus
    messages: list[UIMessage]
    resume_after: str = Field(
        description="Open the event stream after this cursor to see the rest of the active turn"
        " (or what comes next) on top of `messages`."
    )


class ErrorDetail(BaseModel):
    type: str
    message: str
    fields: list[str] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail
