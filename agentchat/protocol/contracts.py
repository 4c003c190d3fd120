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
InputKind = Literal["message", "steer", "trigger"]
BlockKind = Literal[
    "add_message", "respond", "call_tool", "set_resource", "start_thread", "serialize_thread"
]
Display = Literal["hidden", "name", "description", "stream"]
"""How much of a block or tool clients see: nothing, its name, its description, or all of it
(a tool's streamed input and output; a block's messages and answer)."""


class ToolSpec(BaseModel):
    """What the workflow needs to know to run a tool call."""

    name: str
    client: bool = False
    timeout_seconds: float = 300.0
    max_attempts: int = 3
    heartbeat_seconds: float = 5.0
    requires_approval: bool = False
    client_timeout_seconds: float = 86400.0
    display: Display = "stream"
    """What clients see of its calls (see `agentchat.tools.tool`)."""


class CompactionSpec(BaseModel):
    """When a chat's older turns are summarised (see `agentchat.agent.Compaction`)."""

    threshold: float = 0.8
    """Compact when the next prompt's estimated tokens exceed this share of the window."""
    keep_turns: int = 4
    """The most recent turns sent verbatim (fewer when they alone fill half the threshold)."""


class BlockSpec(BaseModel):
    """One step of a trigger's handler (see `agentchat.triggers`)."""

    kind: BlockKind
    role: str = "user"
    """`add_message`: the added message's role."""
    template: str = ""
    """`add_message`: the message's text; `set_resource`: the value, as templates."""
    hidden: bool = False
    """`add_message`: stream nothing to clients (the model still sees it)."""
    tool: str | None = None
    """`call_tool`: the tool's name."""
    input: Any = None
    """`call_tool`: the arguments, a JSON-like value whose strings are templates."""
    into: str | None = None
    """`call_tool`: the handler variable its output is stored in."""
    resource: str | None = None
    """`set_resource`: the resource's name."""
    thread: str | None = None
    """`add_message`, `respond`, `serialize_thread`: the thread it works on (None: the
    chat's main thread); `start_thread`: the thread it starts."""
    display: Display | None = None
    """What clients see of it (None: the block kind's default; see `agentchat.triggers`)."""
    description: str = ""
    """What an operation part shows with display "description"."""
    name: str = ""
    """What an operation part shows with display "name" (empty: one made of the block's kind
    and arguments, e.g. `Set SUMMARY`)."""
    model: str | None = None
    """`start_thread`: the thread's model (None: the agent's)."""
    max_steps: int = 1
    """`start_thread`: LLM steps per `respond` in the thread."""
    tools: list[str] = Field(default_factory=list)
    """`start_thread`: the agent's tools the thread's model may call."""
    format: Literal["markdown", "json"] = "markdown"
    """`serialize_thread`: how the thread's messages are written into the variable."""


class TriggerSpec(BaseModel):
    """A named way to start a turn besides a user message."""

    name: str
    description: str = ""
    input_schema: dict[str, Any] | None = None
    """JSON schema of the trigger's input (None: it takes none)."""
    steps: list[BlockSpec] = Field(default_factory=list)


class ResourceSpec(BaseModel):
    """A persistent named value of a chat that blocks, tools and the model may write."""

    name: str
    default: Any = None
    model_writable: bool = False


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
    max_tokens_per_turn: int | None = None
    """End a turn once its steps used more tokens (input + output) than this."""
    max_tokens_per_chat: int | None = None
    """End a turn once the chat used more tokens than this; refuse later turns."""
    context_window: int | None = None
    """The model's context window in tokens; None: no compaction."""
    compaction: CompactionSpec | None = None
    """None: never compact."""
    title: bool = False
    """Generate the chat's title with a model step after its first turn."""
    triggers: list[TriggerSpec] = Field(default_factory=list)
    """Named triggers besides the user message (checked in the `trigger` update)."""
    resources: list[ResourceSpec] = Field(default_factory=list)


class TokenUsage(BaseModel):
    """Tokens as the providers reported them, summed over model calls.

    `input_tokens` counts whole prompts, cached tokens included; `cached_tokens` is the part
    read from the provider's prompt cache. `output_tokens` counts everything generated,
    reasoning included; `reasoning_tokens` is that part. Budgets count `total_tokens`.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    calls: int = 0
    """Model calls that reported usage (steps, summaries, titles)."""

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, other: TokenUsage | None) -> None:
        """Add `other` in place (None adds nothing)."""
        if other is None:
            return
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cached_tokens += other.cached_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.calls += other.calls

    def wire(self) -> dict[str, int]:
        """As the AI SDK names usage (`LanguageModelUsage`), with the number of model calls:
        what `messageMetadata` carries and the store keeps on a turn's message."""
        return {
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "totalTokens": self.total_tokens,
            "cachedInputTokens": self.cached_tokens,
            "reasoningTokens": self.reasoning_tokens,
            "modelCalls": self.calls,
        }

    @classmethod
    def from_wire(cls, data: Any) -> TokenUsage | None:
        """The usage `wire()` wrote, or None for anything else."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                input_tokens=int(data.get("inputTokens") or 0),
                output_tokens=int(data.get("outputTokens") or 0),
                cached_tokens=int(data.get("cachedInputTokens") or 0),
                reasoning_tokens=int(data.get("reasoningTokens") or 0),
                calls=int(data.get("modelCalls") or 0),
            )
        except (TypeError, ValueError):
            return None


class Compacted(BaseModel):
    """A chat's compaction: what later prompts carry instead of the transcript's start."""

    upto: int
    """Messages before this transcript position are summarised (and not sent)."""
    summary: str
    turn: int
    """The turn during which it was made."""
    count: int = 1
    """How many compactions the chat has had (each summarises the one before)."""


class ThreadState(BaseModel):
    """A named thread of a chat: its own messages, and how its `respond` blocks run."""

    instructions: str = ""
    """Its system prompt, a template rendered at each `respond`."""
    model: str | None = None
    max_steps: int = 1
    tools: list[str] = Field(default_factory=list)
    messages: list[UIMessage] = Field(default_factory=list)


class QueuedInput(BaseModel):
    """A user input waiting for its turn."""

    message: UIMessage
    kind: InputKind = "message"
    client_data: dict[str, Any] | None = None


KEPT_STATE = {
    "subchats",
    "preloaded",
    "preload_context",
    "usage",
    "compaction",
    "titled",
    "inputs",
    "resources",
    "threads",
    "trigger_answers",
}
"""The fields of `ChatState` the chat store's row keeps besides its messages."""


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
    usage: TokenUsage = Field(default_factory=TokenUsage)
    """The chat's running total: every model call of every turn (summaries and titles too)."""
    compaction: Compacted | None = None
    """The latest compaction. With one, `settled_digest`, `sent` and the steps' prefixes cover
    the window `transcript[compaction.upto:]` only: that is what the model is sent."""
    prompt_tokens: int | None = None
    """The input tokens the provider reported for the last step's prompt."""
    prompt_estimate: int = 0
    """Our estimate of that same prompt: the next estimate is the report plus what changed."""
    titled: bool = False
    """The title step ran (or was tried): it runs once per chat."""
    threads: dict[str, ThreadState] = Field(default_factory=dict)
    """The chat's named threads (trigger blocks start them); the main thread is `transcript`."""
    trigger_answers: dict[str, str] = Field(default_factory=dict)
    """A trigger's carrier message id -> the id of its turn's answer (the carrier is not in
    the transcript): how a reader whose stream was lost finds the turn's answer. Bounded
    like `message_turns`."""
    inputs: dict[str, Any] = Field(default_factory=dict)
    """The chat's inputs, validated against the agent's when its first run opened."""
    resources: dict[str, Any] = Field(default_factory=dict)
    """The chat's resources: name -> value (defaults filled in when a run opens)."""

    def kept(self) -> dict[str, Any]:
        """What the chat store's row keeps besides the messages (the turn's save writes it,
        a restore reads it back)."""
        return self.model_dump(include=KEPT_STATE)


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
    inputs: dict[str, Any] | None = None
    """The chat's inputs, for a chat's first run (validated by the worker when it opens)."""


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
    inputs: dict[str, Any] | None = None
    """Inputs to validate against the agent's (a chat's first run)."""


class OpenChatResult(BaseModel):
    spec: AgentSpec | None = None
    """None when this worker does not know the agent."""
    restored: ChatState | None = None
    deleting: bool = False
    """The chat is being deleted: the run refuses everything and ends."""
    owner: str | None = None
    """The chat's owner as the store has it (fixed when it was first recorded)."""
    inputs: dict[str, Any] | None = None
    """The validated inputs, defaults filled in (None: none were checked)."""
    inputs_error: str | None = None
    """Why the inputs were refused (the run then refuses its input)."""


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
    usage: TokenUsage | None = None
    """The turn's usage; with `chat_usage`, the `messageMetadata` of its last chunk."""
    chat_usage: TokenUsage | None = None
    error_type: str | None = None
    """For a failed turn with a typed error (`TokenBudgetExceededError`): its class name."""
    budget: dict[str, Any] | None = None
    """For a turn a token budget ended: `{"name", "limit", "used"}`."""


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
    summary: str | None = None
    """The compaction summary of what precedes the window, sent with the instructions."""
    window_start: int = 0
    """The transcript position the step's transcript starts at (the compaction point)."""
    inputs: dict[str, Any] = Field(default_factory=dict)
    resources: dict[str, Any] = Field(default_factory=dict)
    """The chat's inputs and resources, for the instructions' templates."""
    owner: str | None = None
    """The chat's owner, for instructions that depend on the chat."""
    thread: str | None = None
    """A named thread's step: `transcript` is the thread's messages (by value), answered
    with `thread_instructions`, `model` and `tools` instead of the agent's."""
    thread_instructions: str | None = None
    model: str | None = None
    """The thread's model (None: the agent's)."""
    tools: list[str] | None = None
    """The tools the thread's model may call (None: all of the agent's)."""
    silent: bool = False
    """Write none of the step's chunks to the stream (a hidden block's answer)."""


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
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    model: str | None = None
    """The model that answered (`openai:gpt-4o`), for metrics by model."""

    def usage(self) -> TokenUsage:
        """The step's usage (zeros where the provider reported none)."""
        return TokenUsage(
            input_tokens=self.input_tokens or 0,
            output_tokens=self.output_tokens or 0,
            cached_tokens=self.cached_tokens or 0,
            reasoning_tokens=self.reasoning_tokens or 0,
            calls=1 if self.input_tokens is not None or self.output_tokens is not None else 0,
        )


class ToolCallInput(BaseModel):
    chat_id: str
    agent: str
    turn: int
    step: int
    call: ToolCallRecord
    client_data: dict[str, Any] | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    resources: dict[str, Any] = Field(default_factory=dict)
    silent: bool = False
    """Run by a handler block: stream no tool output (resource changes still stream)."""


class ToolOutcome(BaseModel):
    """A tool call's result as the model and the stream see it."""

    output: Any = None
    error: str | None = None
    denied: bool = False
    subchat: str | None = None
    """A persistent sub-agent chat the call created (closed with this chat)."""
    stream: StreamMark | None = None
    """How far the call's activity wrote the stream (None when no activity ran)."""
    resources: dict[str, Any] = Field(default_factory=dict)
    """Resources the call set (`ctx.set_resource`): name -> new value."""


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
    usage: TokenUsage | None = None
    """The turn's usage, stored on its last assistant message."""


class CompactInput(BaseModel):
    """Summarise the start of a chat's window: `transcript` fields as in `StepInput`, over
    the settled window only; the first `count` messages of it are summarised."""

    chat_id: str
    agent: str
    turn: int
    step: int
    producer: str
    part_id: str
    """The `data-compaction` part's id: its chunks upsert one part."""
    count: int
    previous: str | None = None
    """The summary those messages follow, folded into the new one."""
    upto: int
    """The transcript position the new window starts at."""
    context_window: int
    transcript: list[UIMessage] = Field(default_factory=list)
    prefix_digest: str | None = None
    prefix_len: int = 0
    base_digest: str = ""
    delta: list[UIMessage] = Field(default_factory=list)
    full: bool = False
    attempt_base: int = 0


class CompactResult(BaseModel):
    summary: str
    part: dict[str, Any]
    """The `data-compaction` part as readers folded it (the workflow adds it to the turn)."""
    usage: TokenUsage = Field(default_factory=TokenUsage)
    stream: StreamMark | None = None


class TitleInput(BaseModel):
    """Generate a chat's title from its first turn's text."""

    chat_id: str
    agent: str
    turn: int
    producer: str
    text: str
    """The first turn as plain text (cut short)."""
    user_text: str = ""
    """The first user message's text: the stored title is replaced only while it is still
    the default made from it (the user did not rename the chat meanwhile)."""


class TitleResult(BaseModel):
    title: str | None = None
    usage: TokenUsage = Field(default_factory=TokenUsage)
    stream: StreamMark | None = None


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
