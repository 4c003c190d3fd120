"""Tools: Python functions the model can call, run durably as Temporal activities.

`@tool` turns a function into a `Tool`: its JSON schema comes from the type hints and docstring,
the model's arguments are validated before it runs, and a validation error or an exception goes
back to the model as a tool error so it can correct itself. `client_tool` declares a tool the
caller answers (`AgentChat.submit_tool_result`); `requires_approval=True` pauses the turn until
`AgentChat.approve` or `deny`. A `Toolset` stands for tools known only at run time, such as
an MCP server's (`agentchat.mcp.mcp_tools`).

`display` says what clients see of a tool's calls (the model and the transcript always get
everything): "stream" (default) all of it; "name" that it ran and its name (empty input, null
output, a generic error); "description" that plus its description; "hidden" nothing at all.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic_core import to_jsonable_python

from agentchat.errors import ConfigurationError
from agentchat.protocol.contracts import Display
from agentchat.protocol.tool_display import DISPLAYS

__all__ = ["SET_RESOURCE_TOOL", "Display", "Tool", "ToolContext", "Toolset", "client_tool", "tool"]

SET_RESOURCE_TOOL = "set_resource"
"""The built-in tool an agent gets when one of its resources is `model_writable`."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")


@dataclass
class ToolContext:
    """What a running tool knows about its call.

    Attributes:
        chat_id: The chat whose model called the tool.
        agent: The agent's name.
        client_data: The `client_data` sent with the turn's message.
        tool_call_id: The model's id for this call.
        idempotency_key: Stable across retries of this call: use it to deduplicate side effects.
        turn: The turn number.
        step: The LLM step of the turn that made the call.
        attempt: The activity attempt (1 on the first try).
        inputs: The chat's inputs (`Agent(inputs=...)`), validated when the chat started.
        resources: The chat's resources as the call began (name -> value).
    """

    chat_id: str
    agent: str
    client_data: dict[str, Any] | None
    tool_call_id: str
    idempotency_key: str
    turn: int
    attempt: int
    step: int = 1
    settings: Any = field(default=None, repr=False)
    """The worker's connection `Settings` (for tools that talk to other chats)."""
    owned_chats: list[str] = field(default_factory=list, repr=False)
    _progress: Callable[[Any], None] | None = field(default=None, repr=False)
    stopped: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    """Set when the turn is stopped: long tools should wind down (the activity is also
    cancelled shortly after)."""
    inputs: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    resource_names: list[str] | None = field(default=None, repr=False)
    """The agent's declared resources (None: not checked)."""
    changed_resources: dict[str, Any] = field(default_factory=dict, repr=False)
    _on_resource: Callable[[str, Any], None] | None = field(default=None, repr=False)

    def set_resource(self, name: str, value: Any) -> None:
        """Set one of the chat's resources: streamed as a `data-resource` chunk and kept with
        the chat once the call returns.

        Raises:
            ValueError: The agent declares no resource of that name.
        """
        if self.resource_names is not None and name not in self.resource_names:
            raise ValueError(f"no resource named {name!r}; declared: {self.resource_names}")
        value = to_jsonable_python(value)
        self.resources[name] = value
        self.changed_resources[name] = value
        if self._on_resource is not None:
            self._on_resource(name, value)

    def own_chat(self, chat_id: str) -> None:
        """Record a chat this call created that should close when the parent chat closes."""
        if chat_id not in self.owned_chats:
            self.owned_chats.append(chat_id)

    def progress(self, output: Any) -> None:
        """Publish a preliminary output (`tool-output-available` with `preliminary: true`)."""
        if self._progress is not None:
            self._progress(to_jsonable_python(output))


Handler = Callable[..., Awaitable[Any] | Any]


@dataclass
class Tool:
    """A tool the model can call. Build it with `@tool` or `client_tool`.

    Attributes:
        name: What the model calls it.
        description: What the model reads to decide when to call it.
        parameters: JSON schema of the arguments.
        handler: The function, or None for a client tool.
        timeout: Longest one attempt may run.
        max_attempts: Attempts when the worker running it dies (exceptions are not retried:
            they go back to the model).
        heartbeat: How soon a call whose worker died is retried on another worker.
        requires_approval: Pause for `approve`/`deny` before running.
        client_timeout: How long a client tool waits for its result.
        display: What clients see of its calls: "stream" (all), "description", "name" or
            "hidden" (nothing). The model and the transcript get everything either way; the
            transcript's part of a call not displayed "stream" carries
            `callProviderMetadata: {"agentchat": {"display": ..., "description": ...}}`.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    handler: Handler | None = None
    args_model: type[BaseModel] | None = None
    takes_context: bool = False
    timeout: timedelta = timedelta(minutes=5)
    max_attempts: int = 3
    heartbeat: timedelta = timedelta(seconds=5)
    requires_approval: bool = False
    client_timeout: timedelta = timedelta(hours=24)
    display: Display = "stream"

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigurationError(
                f"tool name {self.name!r} must be 1-64 letters, digits, '_' or '-'"
            )
        check_display(self.display, f"tool {self.name!r}")
        if self.display == "hidden" and self.requires_approval:
            raise ConfigurationError(
                f"tool {self.name!r}: a hidden tool cannot require approval"
                " (approving needs the client to see the call)"
            )
        if self.display == "hidden" and self.is_client:
            raise ConfigurationError(
                f"tool {self.name!r}: a client tool cannot be hidden (the client runs it)"
            )

    @property
    def is_client(self) -> bool:
        return self.handler is None

    def validate(self, raw: Any) -> BaseModel | dict[str, Any]:
        """Validate the model's arguments; raises `ValueError` naming each bad field."""
        if self.args_model is None:
            if not isinstance(raw, dict):
                raise ValueError(f"arguments for {self.name} must be a JSON object")
            return raw
        try:
            return self.args_model.model_validate(raw if raw is not None else {})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ValueError(f"invalid arguments for {self.name}: {problems}") from None

    async def invoke(self, args: BaseModel | dict[str, Any], ctx: ToolContext) -> Any:
        """Run the handler with validated arguments; returns a JSON-able value."""
        assert self.handler is not None, "client tools have no handler"
        kwargs = (
            dict(args)
            if isinstance(args, dict)
            else {name: getattr(args, name) for name in type(args).model_fields}
        )
        if self.takes_context:
            kwargs["ctx"] = ctx
        if inspect.iscoroutinefunction(self.handler):
            result = await self.handler(**kwargs)
        else:
            # Sync tools run in a thread: a blocking call must not starve the heartbeat.
            result = await asyncio.to_thread(self.handler, **kwargs)
            if inspect.isawaitable(result):
                result = await result
        return to_jsonable_python(result)


def check_display(display: Any, where: str) -> None:
    """Raise `ConfigurationError` unless `display` is one of `DISPLAYS`."""
    if display not in DISPLAYS:
        raise ConfigurationError(
            f"{where}: display must be one of {', '.join(map(repr, DISPLAYS))}, not {display!r}"
        )


class Toolset(Tool):
    """Stands, in an agent's `tools`, for tools that are known only once listed (an MCP server's).

    `Agent` sets it aside; `await agent.load_tools()`, which `run_worker` runs before it serves,
    puts the tools `load()` returns in its place. A `Tool` subclass only so that
    `Agent(tools=[...])` type-checks: it is never called itself.
    """

    @property
    def is_client(self) -> bool:
        return False

    async def load(self) -> list[Tool]:
        """The tools, listed on the first call and the same list after."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Close what the tools hold open (connections, processes)."""


def _describe(fn: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """The summary of a Google-style docstring and its `Args:` descriptions."""
    doc = inspect.getdoc(fn) or ""
    summary, args, section = [], {}, None
    current = None
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            section = "args"
            continue
        if stripped.endswith(":") and stripped[:-1] in ("Returns", "Raises", "Yields", "Example"):
            section = "other"
            continue
        if section is None:
            summary.append(stripped)
        elif section == "args" and stripped:
            match = re.match(r"^(\w+)(\s*\(.*?\))?:\s*(.*)$", stripped)
            if match:
                current = match.group(1)
                args[current] = match.group(3)
            elif current:
                args[current] += " " + stripped
    return " ".join(s for s in summary if s).strip(), args


def _from_function(
    fn: Handler,
    *,
    name: str | None,
    description: str | None,
    timeout: timedelta,
    max_attempts: int,
    heartbeat: timedelta,
    requires_approval: bool,
    display: Display,
) -> Tool:
    tool_name = name or fn.__name__
    summary, arg_docs = _describe(fn)
    hints = get_type_hints(fn)
    fields: dict[str, Any] = {}
    takes_context = False
    for param in inspect.signature(fn).parameters.values():
        annotation = hints.get(param.name, Any)
        if annotation is ToolContext:
            if param.name != "ctx":
                raise ConfigurationError(
                    f"tool {tool_name}: the ToolContext parameter must be named 'ctx'"
                )
            takes_context = True
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ConfigurationError(f"tool {tool_name}: *args and **kwargs are not supported")
        from pydantic import Field

        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, Field(default, description=arg_docs.get(param.name)))
    model = create_model(f"{tool_name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
    schema = model.model_json_schema()
    schema.pop("title", None)
    return Tool(
        name=tool_name,
        description=description or summary or tool_name,
        parameters=schema,
        handler=fn,
        args_model=model,
        takes_context=takes_context,
        timeout=timeout,
        max_attempts=max_attempts,
        heartbeat=heartbeat,
        requires_approval=requires_approval,
        display=display,
    )


@overload
def tool(fn: Handler, /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: timedelta = timedelta(minutes=5),
    max_attempts: int = 3,
    heartbeat: timedelta = timedelta(seconds=5),
    requires_approval: bool = False,
    display: Display = "stream",
) -> Callable[[Handler], Tool]: ...


def tool(
    fn: Handler | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: timedelta = timedelta(minutes=5),
    max_attempts: int = 3,
    heartbeat: timedelta = timedelta(seconds=5),
    requires_approval: bool = False,
    display: Display = "stream",
) -> Tool | Callable[[Handler], Tool]:
    """Turn an async (or sync) function into a `Tool`.

    ```python
    @tool
    async def get_user_account(user_id: str) -> dict:
        \"\"\"Look up a user's account.\"\"\"
    ```

    A parameter annotated `ToolContext` and named `ctx` receives the call's context.
    `display` ("stream", "description", "name" or "hidden") says what clients see of its
    calls (see `Tool`); a hidden tool cannot require approval.
    """

    def wrap(func: Handler) -> Tool:
        return _from_function(
            func,
            name=name,
            description=description,
            timeout=timeout,
            max_attempts=max_attempts,
            heartbeat=heartbeat,
            requires_approval=requires_approval,
            display=display,
        )

    return wrap(fn) if fn is not None else wrap


def client_tool(
    name: str,
    description: str,
    parameters: type[BaseModel] | dict[str, Any] | None = None,
    *,
    timeout: timedelta = timedelta(hours=24),
    requires_approval: bool = False,
    display: Display = "stream",
) -> Tool:
    """A tool the caller runs: the turn pauses until `AgentChat.submit_tool_result`.

    Args:
        name: What the model calls it.
        description: When the model should call it.
        parameters: A pydantic model or a JSON schema for its arguments.
        timeout: How long the turn waits for the result before the call fails.
        requires_approval: Ask for approval before forwarding the call.
        display: "stream", "description" or "name" (see `Tool`); the client still gets the
            call's whole input with `tool-input-available`, since it runs the call, but no
            streamed input and a null output. A client tool cannot be "hidden".
    """
    model = parameters if isinstance(parameters, type) else None
    schema: dict[str, Any]
    if model is not None:
        schema = model.model_json_schema()
        schema.pop("title", None)
    elif isinstance(parameters, dict):
        schema = parameters
    else:
        schema = {"type": "object", "properties": {}}
    return Tool(
        name=name,
        description=description,
        parameters=dict(schema),
        args_model=model,
        client_timeout=timeout,
        requires_approval=requires_approval,
        display=display,
    )
