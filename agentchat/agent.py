"""`Agent`: what a chat runs. Workers load agents by name; chats refer to them by name."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from agentchat.errors import ConfigurationError
from agentchat.models import Model, resolve_model
from agentchat.protocol.contracts import AgentSpec, OnBusy, ToolSpec
from agentchat.protocol.identifiers import MAX_AGENT_NAME_LENGTH, is_agent_name
from agentchat.tools import Tool, Toolset

__all__ = ["Agent", "PreloadContext", "load_agents"]


@dataclass(frozen=True)
class PreloadContext:
    """What the preload hook gets: which chat is starting, for whom."""

    chat_id: str
    agent: str
    client_data: dict[str, Any] | None


PreloadHook = Callable[[PreloadContext], Awaitable[str | None]]


@dataclass
class Agent:
    """An agent definition.

    Args:
        name: How chats and workers refer to the agent.
        model: A model string (`openai:gpt-4o-mini`, `offline`) or a `Model` instance.
        instructions: The system prompt.
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
    """

    name: str
    model: str | Model = "offline"
    instructions: str | None = None
    tools: list[Tool] = field(default_factory=list)
    max_steps: int = 10
    idle_timeout: timedelta | float | None = timedelta(minutes=30)
    on_busy: OnBusy = "queue"
    preload: PreloadHook | None = None
    step_timeout: timedelta = timedelta(minutes=10)
    step_heartbeat: timedelta = timedelta(seconds=2)
    step_max_attempts: int = 5
    retention: timedelta | None = None
    _model: Model | None = field(default=None, init=False, repr=False)
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

    def resolved_model(self) -> Model:
        """The agent's model, created on first use (`create_worker` makes it, failing fast)."""
        if self._model is None:
            self._model = resolve_model(self.model)
        return self._model

    async def aclose(self) -> None:
        """Close the model's and the toolsets' connections (`run_worker` does on stopping)."""
        close = getattr(self._model, "aclose", None)
        if close is not None:
            await close()
        for toolset in self._loaded_toolsets:
            await toolset.aclose()  # a later call opens its connection again

    def spec(self) -> AgentSpec:
        idle = self.idle_timeout
        if isinstance(idle, timedelta):
            idle = idle.total_seconds()
        return AgentSpec(
            name=self.name,
            max_steps=self.max_steps,
            idle_timeout_seconds=idle,
            on_busy=self.on_busy,
            has_preload=self.preload is not None,
            step_timeout_seconds=self.step_timeout.total_seconds(),
            step_heartbeat_seconds=self.step_heartbeat.total_seconds(),
            step_max_attempts=self.step_max_attempts,
            tools=[
                ToolSpec(
                    name=t.name,
                    client=t.is_client,
                    timeout_seconds=t.timeout.total_seconds(),
                    max_attempts=t.max_attempts,
                    heartbeat_seconds=t.heartbeat.total_seconds(),
                    requires_approval=t.requires_approval,
                    client_timeout_seconds=t.client_timeout.total_seconds(),
                )
                for t in self.tools
            ],
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
