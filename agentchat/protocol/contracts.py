"""The payloads that cross the Temporal boundary: one model in and out of every workflow,
update, query and activity.

These are durable contracts: a running chat carries them through continue-as-new and replays
them from history, so fields are only ever added, with defaults.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from agentchat.protocol.messages import UIMessage

OnBusy = Literal["queue", "reject", "interrupt"]
TurnStatus = Literal["completed", "stopped", "failed"]
InputKind = Literal["message", "steer"]


class ToolSpec(BaseModel):
    """What the workflow needs to know to run a tool call."""

    name: str
    client: bool = False
    timeout_seconds: float = 300.0
    max_attempts: int = 3
    heartbeat_seconds: float = 5.0
    requires_approval: bool = False
    client_timeout_seconds: float = 86400.0


class AgentSpec(BaseModel):
    """What the workflow needs to know about an agent (the rest stays in the worker)."""

    name: str
    tools: list[ToolSpec] = Field(default_factory=list)
    max_steps: int = 10
    idle_timeout_seconds: float | None = None
    on_busy: OnBusy = "queue"
    has_preload: bool = False
    step_timeout_seconds: float = 600.0
    step_heartbeat_seconds: float = 3.0
    step_max_attempts: int = 5


class QueuedInput(BaseModel):
    """A user input waiting for its turn."""

    message: UIMessage
    kind: InputKind = "message"
    client_data: dict[str, Any] | None = None


class ChatState(BaseModel):
    """Everything a chat is, carried across continue-as-new and returned when a run ends."""

    chat_id: str
    agent: str
    transcript: list[UIMessage] = Field(default_factory=list)
    queue: list[QueuedInput] = Field(default_factory=list)
    pending_steers: list[QueuedInput] = Field(default_factory=list)
    message_turns: dict[str, int] = Field(default_factory=dict)
    """User message id -> the turn it started (or 0 while queued); bounded, for idempotent sends."""
    last_turn: int = 0
    preloaded: bool = False
    preload_context: str | None = None
    closed: bool = False
    subchats: list[str] = Field(default_factory=list)
    """Persistent sub-agent chats this chat owns; closing this chat closes them."""
    settled: int = 0
    """How many transcript messages belong to ended turns (they never change again)."""
    settled_digest: str = ""
    """Digest of those messages: the key LLM steps use to find them in the worker's cache."""
    sent: int = 0
    sent_digest: str = ""
    """The settled prefix the last step was given, so the next one gets only what is new."""


class ChatInput(BaseModel):
    """Workflow input: a new chat, or the carried state of a continued one."""

    chat_id: str
    agent: str
    state: ChatState | None = None
    new_chat: bool = False
    """Set by clients that minted the id themselves: skip looking for an earlier run."""
    owner: str | None = None
    """Who the chat belongs to, fixed when the chat store first records it."""
    parent: str | None = None
    """The chat that delegated to this one (a sub-agent chat): deleted with it."""


class SendInput(BaseModel):
    message: UIMessage
    agent: str
    client_data: dict[str, Any] | None = None
    kind: InputKind = "message"
    owner: str | None = None
    """Sent on behalf of this owner: refused unless the chat is theirs (None: any owner)."""


class SendAck(BaseModel):
    """What `send_message` and `steer` need to find their turn in the stream."""

    chat_id: str
    message_id: str
    run_id: str
    duplicate: bool = False
    turn: int | None = None
    """The turn the message started, when it already started (duplicate sends)."""
    new_run: bool = False
    """True when this input started a new workflow run (not a continue-as-new)."""
    injected: bool = False
    """For a steer: True when it will join the running turn rather than start its own."""


class StopInput(BaseModel):
    reason: str | None = None


class StopAck(BaseModel):
    turn: int | None = None
    """The turn that is being stopped, or None when no turn was running."""


class CloseInput(BaseModel):
    pass


class CloseAck(BaseModel):
    run_id: str
    active_turn: int | None = None


class PreloadInput(BaseModel):
    agent: str
    client_data: dict[str, Any] | None = None
    owner: str | None = None


class PreloadAck(BaseModel):
    run_id: str
    preloaded: bool


class ChatStatus(BaseModel):
    """Answer of the `status` query."""

    chat_id: str
    agent: str
    active_turn: int | None
    last_turn: int
    queued: int
    closed: bool
    message_turns: dict[str, int]


class OpenChatInput(BaseModel):
    chat_id: str
    agent: str
    workflow_id: str
    run_id: str
    restore: bool
    owner: str | None = None
    parent: str | None = None


class OpenChatResult(BaseModel):
    spec: AgentSpec | None = None
    """None when this worker does not know the agent."""
    restored: ChatState | None = None
    deleting: bool = False
    """The chat is being deleted: the run refuses everything and ends."""
    owner: str | None = None
    """The chat's owner as the store has it (fixed when it was first recorded)."""


class TurnStartInput(BaseModel):
    chat_id: str
    turn: int
    message_id: str
    user_message_id: str
    trigger: str


class TurnStopInput(BaseModel):
    chat_id: str
    turn: int


class StreamMark(BaseModel):
    """How far one producer wrote a turn's stream: a reader that saw less lost some of it."""

    seq: int
    """The last sequence number the producer wrote (each producer counts from 1)."""
    attempt: int | None = None
    """The attempt that wrote it; None for the workflow's own records (any attempt)."""


class TurnEndInput(BaseModel):
    chat_id: str
    turn: int
    status: TurnStatus
    finish_reason: str | None = None
    error_text: str | None = None
    marks: dict[str, StreamMark] = Field(default_factory=dict)
    """Producer -> how far it wrote: the turn's end record carries them, so a reader can tell
    a stream that lost entries (Redis restarted without them) and finish from the transcript."""


class PreloadHookInput(BaseModel):
    chat_id: str
    agent: str
    client_data: dict[str, Any] | None = None


class PreloadHookResult(BaseModel):
    context: str | None = None


class StepInput(BaseModel):
    """One LLM step of a turn."""

    chat_id: str
    agent: str
    turn: int
    step: int
    message_id: str
    transcript: list[UIMessage]
    """The conversation so far, ending with the assistant message being built; with
    `prefix_digest` set, only the messages after the settled prefix."""
    prefix_digest: str | None = None
    """Digest of the settled prefix the worker should take from its cache."""
    prefix_len: int = 0
    base_digest: str = ""
    """A prefix the worker cached for an earlier step; `delta` extends it to this one."""
    delta: list[UIMessage] = Field(default_factory=list)
    full: bool = False
    """`transcript` is the whole conversation (a resend after the cache missed)."""
    attempt_base: int = 0
    """Added to the activity's attempt in stream fencing: a resend is a new activity whose
    attempts must supersede every attempt of the one it replaces."""
    start: TurnStartInput | None = None
    """Set on a turn's first step: write the turn's start records before anything else."""
    inject: list[UIMessage] = Field(default_factory=list)
    """Steer messages joining the turn at this step, announced by a `data-steer` chunk."""
    client_data: dict[str, Any] | None = None
    preload_context: str | None = None


class ToolCallRecord(BaseModel):
    """A tool call the model made in a step."""

    id: str
    name: str
    input: Any = None
    input_error: str | None = None
    """Set when the arguments were not valid JSON."""


class StepResult(BaseModel):
    parts: list[dict[str, Any]] = Field(default_factory=list)
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    finish_reason: str = "stop"
    stopped: bool = False
    input_tokens: int | None = None
    output_tokens: int | None = None
    stream: StreamMark | None = None
    """How far the step wrote the stream (None from workers before 0.2)."""


class ToolCallInput(BaseModel):
    chat_id: str
    agent: str
    turn: int
    step: int
    call: ToolCallRecord
    client_data: dict[str, Any] | None = None


class ToolOutcome(BaseModel):
    """A tool call's result as the model and the stream see it."""

    output: Any = None
    error: str | None = None
    denied: bool = False
    subchat: str | None = None
    """A persistent sub-agent chat the call created (closed with this chat)."""
    stream: StreamMark | None = None
    """How far the call's activity wrote the stream (None when no activity ran)."""


class PublishInput(BaseModel):
    """Chunks the workflow itself adds to the stream (tool results it received, approvals)."""

    chat_id: str
    turn: int
    producer: str
    chunks: list[dict[str, Any]]


class ToolResultInput(BaseModel):
    tool_call_id: str
    output: Any = None
    error: str | None = None


class ToolResultAck(BaseModel):
    turn: int


class ApprovalInput(BaseModel):
    approval_id: str
    approved: bool
    reason: str | None = None


class CloseChatsInput(BaseModel):
    chat_ids: list[str]
    agent: str


class SaveTurnInput(BaseModel):
    """A finished turn's messages, for the chat store (the conversation's system of record)."""

    chat_id: str
    agent: str
    turn: int
    start: int
    """The transcript position of the first message: positions make the write idempotent."""
    messages: list[UIMessage]
    state: dict[str, Any] = Field(default_factory=dict)
    """What a later run needs besides the messages (sub-chats, preload)."""
    owner: str | None = None
    parent: str | None = None


class DeleteChatInput(BaseModel):
    """Erase a chat everywhere: store rows, stream keys, its run and its sub-chats."""

    chat_id: str


class DeleteChatResult(BaseModel):
    chat_id: str
    existed: bool
    """False when the store had no such chat (deleting one is idempotent)."""
    subchats: list[str] = Field(default_factory=list)
    """The sub-agent chats deleted with it."""


class DeleteStepInput(BaseModel):
    chat_id: str
    step: Literal["mark", "end_run", "subchats", "stream", "rows"]


class DeleteStepResult(BaseModel):
    existed: bool = False
    subchats: list[str] = Field(default_factory=list)


class RetentionInput(BaseModel):
    """One sweep of the retention schedule."""

    limit: int = 500


class RetentionResult(BaseModel):
    deleted: list[str] = Field(default_factory=list)
