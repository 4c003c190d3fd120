"""Request and answer bodies of the native API; unknown fields are refused with a 422."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agentchat.protocol.contracts import ChatStatus, SendAck
from agentchat.protocol.directory import ChatInfo
from agentchat.protocol.identifiers import AGENT_NAME_PATTERN, CHAT_ID_PATTERN, MESSAGE_ID_PATTERN
from agentchat.protocol.messages import UIMessage
from agentchat.store import MAX_METADATA_BYTES, MAX_OWNER, MAX_TITLE

__all__ = [
    "AgentView",
    "AnswerAck",
    "ApprovalBody",
    "ApprovalFrame",
    "ChatUpdateBody",
    "ChatView",
    "CloseBody",
    "ErrorBody",
    "MessageFrame",
    "PingFrame",
    "PreloadBody",
    "ResourcesView",
    "ResumeFrame",
    "SendAckBody",
    "SendBody",
    "SessionBody",
    "SteerBody",
    "SteerFrame",
    "StopBody",
    "StopFrame",
    "TokenBody",
    "TokenView",
    "ToolResultBody",
    "ToolResultFrame",
    "TriggerBody",
    "TriggerFrame",
]

# The rules `Agent`, `AgentChat` and the workflow apply, published in the OpenAPI schema.
AGENT_PATTERN = AGENT_NAME_PATTERN

TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
"""One line of text that is not blank: owners and titles (no control characters, which
PostgreSQL's text refuses in part and no directory shows)."""

Owner = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_OWNER,
        pattern=TEXT_PATTERN,
        description="A user id of your application: the chat's owner.",
    ),
]


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
    owner: Owner | None = Field(
        default=None,
        description="API keys only: create the chat for this owner (a user token is its user).",
    )
    inputs: dict[str, Any] | None = Field(
        default=None,
        description="The chat's inputs, for a new chat whose agent declares them (kept for life).",
    )


class TriggerBody(_Strict):
    agent: str | None = Field(default=None, pattern=AGENT_PATTERN)
    input: dict[str, Any] | None = Field(default=None, description="The trigger's input.")
    trigger_id: str | None = Field(
        default=None,
        pattern=MESSAGE_ID_PATTERN,
        description="Makes the trigger idempotent: a resend streams the original turn.",
    )
    client_data: dict[str, Any] | None = None
    owner: Owner | None = None
    inputs: dict[str, Any] | None = None


class ResourcesView(BaseModel):
    resources: dict[str, Any]


class ThreadView(BaseModel):
    thread: str
    messages: list[UIMessage]


class TriggerView(BaseModel):
    name: str
    description: str = ""
    input_schema: dict[str, Any] | None = Field(
        default=None, description="The JSON schema of its input (null: it takes none)."
    )


class ResourceView(BaseModel):
    name: str
    description: str = ""
    default: Any = None


class AgentView(BaseModel):
    """An agent's public description, as the workers serving it registered it."""

    name: str
    inputs: dict[str, Any] | None = Field(
        default=None, description="The JSON schema of a new chat's `inputs` (null: none)."
    )
    triggers: list[TriggerView] = Field(default_factory=list)
    resources: list[ResourceView] = Field(default_factory=list)


class SteerBody(_Strict):
    agent: str | None = Field(default=None, pattern=AGENT_PATTERN)
    message: str | UIMessage
    message_id: str | None = Field(default=None, pattern=MESSAGE_ID_PATTERN)
    owner: Owner | None = None


class StopBody(_Strict):
    reason: str | None = Field(default=None, max_length=1000)


class PreloadBody(_Strict):
    agent: str | None = Field(default=None, pattern=AGENT_PATTERN)
    client_data: dict[str, Any] | None = None
    owner: Owner | None = None


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
    """Exactly one of `chat_id` (a chat token) and `user_id` (a user token)."""

    chat_id: str | None = Field(
        default=None, pattern=CHAT_ID_PATTERN, description="A chat token: this chat only."
    )
    user_id: Owner | None = Field(
        default=None, description="A user token: this owner's chats only, and new ones."
    )
    agent: str | None = Field(default=None, pattern=AGENT_PATTERN)
    ttl_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600)

    @model_validator(mode="after")
    def _one_subject(self) -> TokenBody:
        if (self.chat_id is None) == (self.user_id is None):
            raise ValueError(
                "give exactly one of chat_id (a chat token) and user_id (a user token)"
            )
        return self


class SessionBody(_Strict):
    """A short-lived session token for this chat (`POST /v1/chats/{id}/session`)."""

    user_id: Owner | None = Field(
        default=None,
        description="API keys only: the token acts as this owner, on this chat only (a new"
        " chat it creates is theirs). A user token's session is always its own user's.",
    )
    agent: str | None = Field(default=None, pattern=AGENT_PATTERN)
    ttl_seconds: int = Field(default=600, ge=1, le=3600, description="At most an hour.")


class TokenView(BaseModel):
    token: str
    chat_id: str | None = None
    user_id: str | None = None
    expires_at: int


class ChatUpdateBody(_Strict):
    """What `PATCH /v1/chats/{id}` changes; fields left out stay as they are."""

    title: str | None = Field(
        default=None, min_length=1, max_length=MAX_TITLE, pattern=TEXT_PATTERN
    )
    archived: bool | None = None
    metadata: dict[str, Any] | None = Field(
        default=None,
        description=f"Replaces the metadata: a JSON object of at most {MAX_METADATA_BYTES} bytes.",
    )

    @field_validator("metadata")
    @classmethod
    def _small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                size = len(orjson.dumps(value))
            except TypeError as exc:  # an integer beyond 64 bits, say
                raise ValueError(f"not storable as JSON: {exc}") from None
            if size > MAX_METADATA_BYTES:
                limit = MAX_METADATA_BYTES
                raise ValueError(f"{size:,} bytes as JSON, over the limit of {limit:,}")
        return value

    @model_validator(mode="after")
    def _something(self) -> ChatUpdateBody:
        if self.title is None and self.archived is None and self.metadata is None:
            raise ValueError("nothing to change: give title, archived or metadata")
        return self


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
    chat: ChatInfo | None = Field(
        default=None,
        description="The chat's record in the chat store (title, owner, metadata, times);"
        " null for a chat the store has not recorded.",
    )


class ErrorDetail(BaseModel):
    type: str
    message: str
    fields: list[str] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


# -- WebSocket session frames (`GET /v1/chats/{id}/ws`, gateway/ws.py) ---------------------------

FrameId = Annotated[
    str | int,
    Field(description="Chosen by the client; the answer (`ack` or `error`) carries it back."),
]


class _Frame(_Strict):
    id: FrameId


class MessageFrame(_Frame, SendBody):
    """`message`: a user message, as `POST /v1/chats/{id}/messages` takes it (a `UIMessage`
    may carry `file` parts)."""

    type: Literal["message"]


class TriggerFrame(_Frame):
    """`trigger`: invoke one of the agent's triggers, as `POST /v1/chats/{id}/triggers/{name}`
    does (`trigger_id` makes it idempotent, as a message's `message_id`)."""

    type: Literal["trigger"]
    name: str = Field(pattern=AGENT_PATTERN, description="The trigger.")
    agent: str | None = Field(default=None, pattern=AGENT_PATTERN)
    input: dict[str, Any] | None = Field(default=None, description="The trigger's input.")
    trigger_id: str | None = Field(default=None, pattern=MESSAGE_ID_PATTERN)
    client_data: dict[str, Any] | None = None
    owner: Owner | None = None
    inputs: dict[str, Any] | None = None


class SteerFrame(_Frame, SteerBody):
    type: Literal["steer"]


class StopFrame(_Frame, StopBody):
    type: Literal["stop"]


class ToolResultFrame(_Frame, ToolResultBody):
    """`tool_result` (or Vatel's name, `tool_call_output`): a client tool's answer."""

    type: Literal["tool_result", "tool_call_output"]


class ApprovalFrame(_Frame):
    """`approve` or `deny` a tool call that asked for approval."""

    type: Literal["approve", "deny"]
    approval_id: str = Field(min_length=1, max_length=200)
    reason: str | None = Field(default=None, max_length=10_000)


class ResumeFrame(_Frame):
    """Resend everything after `last_event_id`, then live."""

    type: Literal["resume"]
    last_event_id: str = Field(pattern=r"^[0-9]{1,20}-[0-9]{1,20}$")


class PingFrame(_Frame):
    type: Literal["ping"]
