"""`Agent`: what a chat runs. Workers load agents by name; chats refer to them by name."""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from agentchat.errors import ConfigurationError
from agentchat.files import FilePolicy
from agentchat.models import Model, resolve_model
from agentchat.models._windows import context_window_for
from agentchat.protocol import templates
from agentchat.protocol.contracts import AgentSpec, CompactionSpec, OnBusy, ToolSpec
from agentchat.protocol.identifiers import MAX_AGENT_NAME_LENGTH, is_agent_name
from agentchat.protocol.messages import UIMessage
from agentchat.tools import SET_RESOURCE_TOOL, Tool, ToolContext, Toolset
from agentchat.triggers import (
    CallTool,
    Resource,
    Respond,
    SetResource,
    StartThread,
    Trigger,
    input_fields,
)

__all__ = [
    "Agent",
    "ChatContext",
    "Compaction",
    "Instructions",
    "PreloadContext",
    "SummaryRequest",
    "load_agents",
]

DEFAULT_SUMMARY_INSTRUCTIONS = (
    "You compact a conversation between a user and an AI assistant so that the assistant can"
    " go on with it without the original messages. Write a concise summary, in the"
    " conversation's language, of everything the assistant still needs: the user's goals,"
    " facts and preferences they stated, decisions made, results of tool calls that still"
    " matter, and open questions. Fold the earlier summary, if there is one, into yours. Answer"
    " with the summary only."
)
DEFAULT_TITLE_INSTRUCTIONS = (
    "Write a title of at most six words for the conversation below, in its language. Answer"
    " with the title only: no quotes, no final punctuation."
)


@dataclass(frozen=True)
class SummaryRequest:
    """What a custom summariser (`Compaction(summarize=...)`) gets.

    Attributes:
        chat_id: The chat being compacted.
        agent: Its agent's name.
        previous: The summary the messages follow (None for a chat's first compaction).
        messages: The messages to summarise, oldest first.
    """

    chat_id: str
    agent: str
    previous: str | None
    messages: list[UIMessage]


@dataclass(frozen=True)
class Compaction:
    """When and how a chat's older turns are summarised to fit the model's context window.

    Before each LLM step the workflow estimates the prompt (the provider's count of the last
    prompt plus ~4 characters a token for what is new). Over `threshold` of the context window,
    the window's settled turns except the newest `keep_turns` (fewer when those alone take half
    the threshold) are summarised by one durable activity, and later prompts carry the summary
    (after the instructions) plus the turns from there on. The transcript itself, `history()`
    and the store keep every message.

    Args:
        threshold: Share of the context window the next prompt may reach.
        keep_turns: Newest turns always sent verbatim.
        instructions: The summariser's system prompt.
        model: The model that summarises (default: the agent's).
        summarize: Replace the model step with your own function (runs in the activity, may do
            I/O); it returns the new summary, which should fold in `previous`.
    """

    threshold: float = 0.8
    keep_turns: int = 4
    instructions: str = DEFAULT_SUMMARY_INSTRUCTIONS
    model: str | Model | None = None
    summarize: Callable[[SummaryRequest], Awaitable[str]] | None = None

    def spec(self) -> CompactionSpec:
        return CompactionSpec(threshold=self.threshold, keep_turns=self.keep_turns)


@dataclass(frozen=True)
class PreloadContext:
    """What the preload hook gets: which chat is starting, for whom."""

    chat_id: str
    agent: str
    client_data: dict[str, Any] | None


PreloadHook = Callable[[PreloadContext], Awaitable[str | None]]


@dataclass(frozen=True)
class ChatContext:
    """What instructions that depend on the chat get (`Agent(instructions=<callable>)`).

    Attributes:
        chat_id: The chat.
        agent: Its agent's name.
        owner: The chat's owner (None for a chat without one).
        client_data: The client data sent with the turn's message.
        inputs: The chat's inputs (see `Agent.inputs`).
        resources: The chat's resources as the step starts.
        turn: The turn (1 for the chat's first).
    """

    chat_id: str
    agent: str
    owner: str | None
    client_data: dict[str, Any] | None
    inputs: dict[str, Any]
    resources: dict[str, Any]
    turn: int


Instructions = Callable[[ChatContext], str | Awaitable[str]]
"""Instructions that depend on the chat: a function (sync or async) of its `ChatContext`,
called in the LLM step's activity (never in workflow code), which may do I/O."""


@dataclass
class Agent:
    """An agent definition.

    Args:
        name: How chats and workers refer to the agent.
        model: A model string (`openai:gpt-4o-mini`, `offline`) or a `Model` instance.
        instructions: The system prompt: a string (a template over the agent's inputs and
            resources, `{{NAME}}`), or a function of the chat's `ChatContext` (sync or
            async) returning it, called before each LLM step in the step's activity: where
            the prompt depends on who is asking, it may read a database. A sync function
            runs in a thread; what it raises fails the step (retried like the model call).
        tools: Tools the model may call (`@tool`, `client_tool`, `agent_tool`), and the tools
            of MCP servers (`mcp_tools`), listed by `load_tools` before the worker serves.
        max_steps: LLM steps per turn at most (each steer injection is a step).
        idle_timeout: End the chat's workflow run after this long without input; the next
            message starts a new run with the full history. None keeps runs open.
        on_busy: What a message arriving during a turn does: "queue" it as the next turn
            (default), "reject" it with `ChatBusyError`, or "interrupt" the running turn
            (keeping its partial answer) and run next.
        preload: Async hook run once per conversation, before any message, by
            `AgentChat.preload()` or the first message. A string it returns is appended to
            the instructions for the rest of the conversation.
        step_timeout: Longest one LLM step may take.
        step_heartbeat: Heartbeat timeout of the LLM step activity: how fast a crashed
            worker's step moves to another worker. A live step's heartbeat reaches Temporal
            every second, so the default leaves it a second to spare.
        step_max_attempts: Attempts per LLM step before the turn fails.
        retention: Delete this agent's chats once they have had no activity for this long
            (the worker's retention schedule does, through `AgentChat.delete()`'s path).
            None: `AGENTCHAT_RETENTION_DAYS` when set, else chats are kept.
        max_tokens_per_turn: End a turn (keeping its partial answer, with an `error` chunk and
            `TokenBudgetExceededError`) once its model calls used more tokens (input plus
            output, as the provider reports them). Checked after each step: a step under way
            finishes first.
        max_tokens_per_chat: The same over the whole chat; once spent, further turns are
            refused with the same error before any step runs.
        context_window: The model's context window in tokens. Defaults to the known window of
            `openai:` and `anthropic:` models; for other models compaction needs it set.
        compaction: A `Compaction` policy (the default one when None), or False for none.
        title: Generate the chat's title with one model step after its first turn: True, or
            the title step's instructions. The title is stored (unless the user renamed the
            chat meanwhile) and streamed as a `data-title` chunk.
        files: Which files its messages may carry (`FilePolicy`: size, media types, count),
            checked before each LLM step; see docs/attachments.md.
        inputs: A pydantic model of the values each chat is created with
            (`AgentChat(..., inputs={...})`): checked before anything is queued, kept for the
            chat's life, read by templates (`{{FIELD}}`) and tools (`ctx.inputs`).
        resources: Persistent named values of each chat (`Resource`), read by templates,
            set by trigger blocks, tools (`ctx.set_resource`) and, when allowed, the model.
        triggers: Named ways to start a turn besides a message (`Trigger`).
    """

    name: str
    model: str | Model = "offline"
    instructions: str | Instructions | None = None
    tools: list[Tool] = field(default_factory=list)
    max_steps: int = 10
    idle_timeout: timedelta | float | None = timedelta(minutes=30)
    on_busy: OnBusy = "queue"
    preload: PreloadHook | None = None
    step_timeout: timedelta = timedelta(minutes=10)
    step_heartbeat: timedelta = timedelta(seconds=2)
    step_max_attempts: int = 5
    retention: timedelta | None = None
    max_tokens_per_turn: int | None = None
    max_tokens_per_chat: int | None = None
    context_window: int | None = None
    compaction: Compaction | bool | None = None
    title: bool | str = False
    files: FilePolicy = field(default_factory=FilePolicy)
    inputs: type[BaseModel] | None = None
    resources: list[Resource] = field(default_factory=list)
    triggers: list[Trigger] = field(default_factory=list)
    _model: Model | None = field(default=None, init=False, repr=False)
    _summary_model: Model | None = field(default=None, init=False, repr=False)
    _thread_models: dict[str, Model] = field(default_factory=dict, init=False, repr=False)
    _toolsets: list[Toolset] = field(default_factory=list, init=False, repr=False)
    _loaded_toolsets: list[Toolset] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if not is_agent_name(self.name):
            raise ConfigurationError(
                f"agent name {self.name!r} must be 1-{MAX_AGENT_NAME_LENGTH}"
                " letters, digits or '_.-'"
            )
        if self.max_steps < 1:
            raise ConfigurationError(f"agent {self.name!r}: max_steps must be at least 1")
        if self.on_busy not in ("queue", "reject", "interrupt"):
            raise ConfigurationError(
                f"agent {self.name!r}: on_busy must be 'queue', 'reject' or 'interrupt'"
            )
        for option in ("max_tokens_per_turn", "max_tokens_per_chat", "context_window"):
            value = getattr(self, option)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigurationError(
                    f"agent {self.name!r}: {option} must be a positive number of tokens"
                )
        policy = self.compaction_policy()
        if policy is not None and not (0 < policy.threshold <= 1 and policy.keep_turns >= 0):
            raise ConfigurationError(
                f"agent {self.name!r}: compaction needs 0 < threshold <= 1 and keep_turns >= 0"
            )
        if isinstance(self.model, str) and self.model.startswith("offline"):
            resolve_model(self.model)  # a bad offline rate fails here, not in the worker
        # A toolset's tools take its place once listed (load_tools).
        self._toolsets = [t for t in self.tools if isinstance(t, Toolset)]
        self.tools = [t for t in self.tools if not isinstance(t, Toolset)]
        names = [t.name for t in self.tools]
        if not all(isinstance(t, Tool) for t in self.tools):
            raise ConfigurationError(
                f"agent {self.name!r}: tools must be Tool objects (decorate functions with @tool)"
            )
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigurationError(f"agent {self.name!r}: tools named twice: {dupes}")
        self._check_protocol()
        writable = [r for r in self.resources if r.model_writable]
        if writable and SET_RESOURCE_TOOL not in names:
            self.tools.append(_set_resource_tool(writable))

    def _check_protocol(self) -> None:
        """Inputs, resources and triggers: names unique, templates referring to known names."""
        resources = [r.name for r in self.resources]
        triggers = [t.name for t in self.triggers]
        for what, listed in (("resources", resources), ("triggers", triggers)):
            dupes = sorted({n for n in listed if listed.count(n) > 1})
            if dupes:
                raise ConfigurationError(f"agent {self.name!r}: {what} named twice: {dupes}")
        known = [*input_fields(self.inputs), *resources]
        if self.instructions is not None and not (
            isinstance(self.instructions, str) or callable(self.instructions)
        ):
            raise ConfigurationError(
                f"agent {self.name!r}: instructions must be a string or a function of"
                f" the chat's context, not {type(self.instructions).__name__}"
            )
        try:
            if isinstance(self.instructions, str):
                templates.check(self.instructions, known, where=f"agent {self.name!r} instructions")
            for trigger in self.triggers:
                self._check_trigger(trigger, known, set(resources))
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None

    def _check_trigger(self, trigger: Trigger, known: list[str], resources: set[str]) -> None:
        names = [*known, *input_fields(trigger.input)]
        threads = self.threads()
        for i, block in enumerate(trigger.steps):
            where = f"agent {self.name!r} trigger {trigger.name!r} step {i + 1}"
            spec = block.spec()
            templates.check(spec.template, names, where=where)
            for name in templates.value_names(spec.input):
                templates.check(f"{{{{{name}}}}}", names, where=where)
            if isinstance(block, SetResource) and block.name not in resources:
                raise ValueError(f"{where}: no resource named {block.name!r}")
            if isinstance(block, CallTool):
                self._check_tool(block.tool_name, where)
            if isinstance(block, StartThread):
                for tool_name in block.tools:
                    self._check_tool(tool_name, where)
            elif spec.thread is not None and spec.thread not in threads:
                raise ValueError(
                    f"{where}: no thread named {spec.thread!r} (start it with StartThread)"
                )
            if isinstance(block, Respond) and block.display != "stream":
                self._check_unseen_tools(block, threads, where)
            if spec.into:
                names.append(spec.into)

    def _check_unseen_tools(
        self, block: Respond, threads: dict[str, StartThread], where: str
    ) -> None:
        """An answer clients do not see cannot use tools that need them: approvals and
        client tools would wait for a client that never saw the call."""
        names = (
            [t.name for t in self.tools] if block.thread is None else threads[block.thread].tools
        )
        needing = [
            name
            for name in names
            if (tool := self.tool(name)) is not None and (tool.is_client or tool.requires_approval)
        ]
        if needing:
            raise ValueError(
                f"{where}: a Respond shown as {block.display!r} cannot offer tools that need the"
                f" client (approvals, client tools): {needing}; stream it, or give it a thread"
                " without them"
            )

    def _check_tool(self, tool_name: str, where: str) -> None:
        tool = self.tool(tool_name)
        if tool is None and not self._toolsets:
            raise ValueError(f"{where}: no tool named {tool_name!r}")
        if tool is not None and tool.is_client:
            raise ValueError(f"{where}: {tool_name!r} is a client tool")

    def threads(self) -> dict[str, StartThread]:
        """The named threads the agent's triggers start, by name (the first start of each)."""
        found: dict[str, StartThread] = {}
        for trigger in self.triggers:
            for block in trigger.steps:
                if isinstance(block, StartThread):
                    found.setdefault(block.name, block)
        return found

    @classmethod
    def from_protocol(
        cls,
        folder: str | Path,
        *,
        tools: Iterable[Tool] = (),
        **options: Any,
    ) -> Agent:
        """Load an agent written in Octavus's protocol layout (see docs/agent-protocol.md).

        Args:
            folder: A folder with `protocol.yaml` and `prompts/*.md`.
            tools: The Python tools the protocol's `tools` name (attached by name).
            **options: Any other `Agent` argument (`name`, `model`, `max_steps`, ...),
                overriding what the protocol says.

        Raises:
            ConfigurationError: The folder is not a valid protocol: the message names the
                file, the key and what is wrong.
        """
        from agentchat.protocol_loader import PROTOCOL_FILE, protocol_arguments  # YAML when asked

        arguments = protocol_arguments(folder, tools=tools, **options)
        try:
            return cls(**arguments)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{PROTOCOL_FILE}: {exc} (protocol folder {folder})") from None

    def validate_inputs(self, raw: dict[str, Any] | None) -> dict[str, Any]:
        """The chat's inputs, validated and with defaults; `ValueError` names a bad field."""
        if self.inputs is None:
            return dict(raw or {})
        try:
            return self.inputs.model_validate(raw or {}).model_dump(mode="json")
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(inputs)'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ValueError(f"invalid inputs for agent {self.name!r}: {problems}") from None

    def render_instructions(self, inputs: dict[str, Any], resources: dict[str, Any]) -> str | None:
        """The string instructions with their `{{NAME}}` references filled in (None for a
        function's: see `instructions_for`)."""
        if not isinstance(self.instructions, str) or not self.instructions:
            return self.instructions if isinstance(self.instructions, str) else None
        values = {r.name: r.default for r in self.resources}
        values.update(resources)
        values.update(inputs)
        return templates.render(self.instructions, values)

    @property
    def has_dynamic_instructions(self) -> bool:
        """Whether the instructions are a function, called before each step."""
        return self.instructions is not None and not isinstance(self.instructions, str)

    async def instructions_for(self, context: ChatContext) -> str | None:
        """Call the instructions function for `context` (a sync one in a thread).

        Raises:
            TypeError: It returned something other than a string or None.
        """
        function = self.instructions
        assert function is not None and not isinstance(function, str)
        if inspect.iscoroutinefunction(function):
            result = await function(context)
        else:
            result = await asyncio.to_thread(function, context)
            if inspect.isawaitable(result):  # a callable object whose __call__ is async
                result = await result
        if result is not None and not isinstance(result, str):
            raise TypeError(
                f"agent {self.name!r}: instructions returned {type(result).__name__}, not a string"
            )
        return result

    def tool(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)

    async def load_tools(self) -> None:
        """List the tools of the agent's toolsets (MCP servers) and add them to `tools`.

        `run_worker` runs it before serving; call it before `create_worker` yourself. Once
        loaded, a toolset is not listed again.

        Raises:
            ConfigurationError: A server cannot be listed, or one of its tools has the name of
                another of the agent's tools.
        """
        while self._toolsets:
            toolset = self._toolsets[0]
            try:
                loaded = await toolset.load()
            except ConfigurationError as exc:
                raise ConfigurationError(f"agent {self.name!r}: {exc}") from None
            clash = sorted({t.name for t in self.tools} & {t.name for t in loaded})
            if clash:
                raise ConfigurationError(
                    f"agent {self.name!r}: {toolset.description} has tools named like the"
                    f" agent's others: {clash}; give it a prefix= to tell them apart"
                )
            self.tools.extend(loaded)
            self._loaded_toolsets.append(self._toolsets.pop(0))

    def check_tools_loaded(self) -> None:
        """Raise `ConfigurationError` while a toolset's tools are not listed yet."""
        if self._toolsets:
            servers = ", ".join(t.description for t in self._toolsets)
            raise ConfigurationError(
                f"agent {self.name!r}: the tools of {servers} are not listed yet:"
                " await agent.load_tools() before create_worker (run_worker does)"
            )

    def compaction_policy(self) -> Compaction | None:
        """The compaction policy in force (None: never compact)."""
        if self.compaction is False:
            return None
        if isinstance(self.compaction, Compaction):
            return self.compaction
        return Compaction()

    def resolved_context_window(self) -> int | None:
        """`context_window`, else the known window of the model (None when unknown)."""
        if self.context_window is not None:
            return self.context_window
        name = self.model if isinstance(self.model, str) else getattr(self.model, "name", "")
        return context_window_for(str(name))

    def title_instructions(self) -> str | None:
        """The title step's instructions, None when titles are not generated."""
        if self.title is True:
            return DEFAULT_TITLE_INSTRUCTIONS
        return self.title or None

    def resolved_model(self) -> Model:
        """The agent's model, created on first use (`create_worker` makes it, failing fast)."""
        if self._model is None:
            self._model = resolve_model(self.model)
        return self._model

    def model_for(self, name: str | None) -> Model:
        """The model a step runs: a thread's own (`StartThread(model=)`), else the agent's."""
        if name is None:
            return self.resolved_model()
        model = self._thread_models.get(name)
        if model is None:
            model = self._thread_models[name] = resolve_model(name)
        return model

    def summary_model(self) -> Model:
        """The model that writes compaction summaries: the policy's, else the agent's."""
        policy = self.compaction_policy()
        if policy is None or policy.model is None:
            return self.resolved_model()
        if self._summary_model is None:
            self._summary_model = resolve_model(policy.model)
        return self._summary_model

    async def aclose(self) -> None:
        """Close the model's and the toolsets' connections (`run_worker` does on stopping)."""
        for model in (self._model, self._summary_model, *self._thread_models.values()):
            close = getattr(model, "aclose", None)
            if close is not None:
                await close()
        for toolset in self._loaded_toolsets:
            await toolset.aclose()  # a later call opens its connection again

    def spec(self) -> AgentSpec:
        idle = self.idle_timeout
        if isinstance(idle, timedelta):
            idle = idle.total_seconds()
        window = self.resolved_context_window()
        policy = self.compaction_policy()
        return AgentSpec(
            name=self.name,
            max_steps=self.max_steps,
            idle_timeout_seconds=idle,
            on_busy=self.on_busy,
            has_preload=self.preload is not None,
            step_timeout_seconds=self.step_timeout.total_seconds(),
            step_heartbeat_seconds=self.step_heartbeat.total_seconds(),
            step_max_attempts=self.step_max_attempts,
            max_tokens_per_turn=self.max_tokens_per_turn,
            max_tokens_per_chat=self.max_tokens_per_chat,
            context_window=window,
            compaction=policy.spec() if policy is not None and window else None,
            title=self.title_instructions() is not None,
            triggers=[t.spec() for t in self.triggers],
            resources=[r.spec() for r in self.resources],
            tools=[
                ToolSpec(
                    name=t.name,
                    client=t.is_client,
                    timeout_seconds=t.timeout.total_seconds(),
                    max_attempts=t.max_attempts,
                    heartbeat_seconds=t.heartbeat.total_seconds(),
                    requires_approval=t.requires_approval,
                    client_timeout_seconds=t.client_timeout.total_seconds(),
                    display=t.display,
                )
                for t in self.tools
            ],
        )


def _set_resource_tool(resources: list[Resource]) -> Tool:
    """The built-in tool through which the model sets the resources it may write."""
    names = [r.name for r in resources]
    described = "; ".join(f"{r.name}: {r.description or 'no description'}" for r in resources)

    async def set_resource(name: str, value: Any, ctx: ToolContext) -> str:
        if name not in names:
            raise ValueError(f"no writable resource {name!r}; writable: {', '.join(names)}")
        ctx.set_resource(name, value)
        return f"{name} set"

    return Tool(
        name=SET_RESOURCE_TOOL,
        description=f"Set one of the conversation's persistent resources ({described}).",
        parameters={
            "type": "object",
            "properties": {"name": {"type": "string", "enum": names}, "value": {}},
            "required": ["name", "value"],
        },
        handler=set_resource,
        takes_context=True,
    )


def load_agents(refs: Iterable[str | Agent]) -> list[Agent]:
    """Resolve `package.module:attr` references (an Agent or a list of Agents) into agents."""
    agents: list[Agent] = []
    for ref in refs:
        if isinstance(ref, Agent):
            agents.append(ref)
            continue
        module_name, _, attr = ref.partition(":")
        if not module_name or not attr:
            raise ConfigurationError(f"--agents {ref!r}: expected 'package.module:attr'")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigurationError(
                f"--agents {ref!r}: cannot import {module_name}: {exc}"
            ) from exc
        try:
            value = getattr(module, attr)
        except AttributeError:
            raise ConfigurationError(f"--agents {ref!r}: {module_name} has no {attr!r}") from None
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if not isinstance(item, Agent):
                raise ConfigurationError(f"--agents {ref!r}: {item!r} is not an Agent")
            agents.append(item)
    names = [a.name for a in agents]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigurationError(f"agents defined twice: {', '.join(dupes)}")
    return agents
