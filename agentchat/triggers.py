"""Inputs, resources and triggers: what an agent declares besides its model and tools.

```python
class Ticket(BaseModel):
    COMPANY_NAME: str
    USER_ID: str | None = None

agent = Agent(
    "support",
    instructions="You support the customers of {{COMPANY_NAME}}. Summary: {{SUMMARY}}",
    inputs=Ticket,
    resources=[Resource("SUMMARY", default="", description="the conversation so far")],
    triggers=[
        Trigger(
            "request-human",
            "The user asked for a person",
            input=Reason,                      # a pydantic model; {{REASON}} in templates
            steps=[
                AddMessage("user", "Summarise for a human agent: {{REASON}}", hidden=True),
                Respond(),
                CallTool("create_ticket", {"summary": "{{SUMMARY}}"}, into="TICKET"),
                SetResource("SUMMARY", "ticket {{TICKET.id}}"),
            ],
        )
    ],
)
```

Every block runs durably in the chat's workflow, like a message's turn: `AddMessage` puts a
message in the transcript (hidden: streams nothing), `Respond` runs the agentic loop,
`CallTool` runs a tool as the usual tool activity and keeps its output in a handler variable,
`SetResource` sets a resource (a `data-resource` chunk in the stream, kept in the chat),
`StartThread` starts a named thread and `SerializeThread` writes a thread as text into a
variable.

What clients see of a block is its `display`: "hidden" (nothing), "name" or "description" (a
`data-operation` part, running then done, labelled with the block's `label` or `description`;
without one, a label made of its kind and arguments, e.g. "Set SUMMARY"), or "stream" (a
`Respond`'s answer as it is written). `AddMessage` shows its message unless `hidden`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from agentchat.errors import ConfigurationError
from agentchat.protocol.contracts import BlockSpec, Display, ResourceSpec, TriggerSpec
from agentchat.protocol.identifiers import is_agent_name

__all__ = [
    "MAIN_THREAD",
    "USER_MESSAGE",
    "AddMessage",
    "Block",
    "CallTool",
    "Resource",
    "Respond",
    "SerializeThread",
    "SetResource",
    "StartThread",
    "Trigger",
    "input_fields",
]

USER_MESSAGE = "user-message"
"""The built-in trigger: a user message (`send_message`), added and answered."""

MAIN_THREAD = "main"
"""The chat's own thread: what `send_message` adds to and `history()` returns."""


@dataclass(frozen=True)
class Resource:
    """A persistent named value of each chat of the agent.

    Args:
        name: How templates (`{{NAME}}`), tools (`ctx.set_resource`) and readers name it.
        default: Its value until something sets it (JSON-able).
        description: What it holds (shown to the model when it may write it).
        model_writable: Let the model set it, through the built-in `set_resource` tool.
    """

    name: str
    default: Any = None
    description: str = ""
    model_writable: bool = False

    def spec(self) -> ResourceSpec:
        return ResourceSpec(
            name=self.name, default=self.default, model_writable=self.model_writable
        )


@dataclass(frozen=True)
class AddMessage:
    """Add a message to the transcript (before the turn's answer).

    Args:
        role: "user", "assistant" or "system".
        prompt_template: Its text, a template.
        hidden: Stream nothing to clients; the model still sees it.
        thread: The thread it goes to (None: the main thread); started by a `StartThread`.
    """

    role: Literal["user", "assistant", "system"]
    prompt_template: str
    hidden: bool = False
    thread: str | None = None

    def spec(self) -> BlockSpec:
        return BlockSpec(
            kind="add_message",
            role=self.role,
            template=self.prompt_template,
            hidden=self.hidden,
            thread=_thread(self.thread),
            display="hidden" if self.hidden else "stream",
        )


@dataclass(frozen=True)
class Respond:
    """Run the agentic loop: LLM steps and tool calls until the model answers.

    Args:
        thread: The thread that answers (None: the main thread, with the agent's model,
            instructions and tools; else a thread's own, see `StartThread`).
        into: A handler variable that takes the answer's text (`{{VAR}}` in later blocks).
        display: "stream" shows the answer as it is written (a named thread's chunks carry
            its name); "hidden" streams nothing; "name"/"description" show an operation.
        description: What the operation shows with display "description".
    """

    thread: str | None = None
    into: str | None = None
    display: Display = "stream"
    description: str = ""
    label: str = ""

    def spec(self) -> BlockSpec:
        return BlockSpec(
            kind="respond",
            thread=_thread(self.thread),
            into=self.into,
            display=self.display,
            description=self.description,
            name=self.label,
        )


@dataclass(frozen=True)
class CallTool:
    """Run one of the agent's tools with templated input; keep its output in a variable.

    Args:
        tool_name: The tool (a server tool of the agent).
        input_template: Its arguments: a JSON-like value whose strings are templates (a
            string that is a single `{{NAME}}` becomes that value itself).
        into: The handler variable later blocks read as `{{VAR}}` (None: not kept).
    """

    tool_name: str
    input_template: Any = field(default_factory=dict)
    into: str | None = None
    display: Display = "name"
    description: str = ""
    label: str = ""

    def spec(self) -> BlockSpec:
        return BlockSpec(
            kind="call_tool",
            tool=self.tool_name,
            input=self.input_template,
            into=self.into,
            display=self.display,
            description=self.description,
            name=self.label,
        )


@dataclass(frozen=True)
class SetResource:
    """Set a resource to a templated value (a single `{{NAME}}` keeps the value's type)."""

    name: str
    value_template: str
    display: Display = "name"
    description: str = ""
    label: str = ""

    def spec(self) -> BlockSpec:
        return BlockSpec(
            kind="set_resource",
            resource=self.name,
            template=self.value_template,
            display=self.display,
            description=self.description,
            name=self.label,
        )


@dataclass(frozen=True)
class StartThread:
    """Start (or restart, emptied) a named thread: a message list of its own in the chat.

    A thread's `Respond` sends the model the thread's messages only, with the thread's
    instructions, model and tools; the main thread's model never sees them unless a block
    puts them there (`SerializeThread` into a variable, then `AddMessage`).

    Args:
        name: The thread's name (letters, digits, '_.-'; not "main").
        instructions: Its system prompt, a template.
        model: Its model (None: the agent's).
        max_steps: LLM steps per `Respond` in it.
        tools: Names of the agent's tools its model may call.
    """

    name: str
    instructions: str = ""
    model: str | None = None
    max_steps: int = 1
    tools: list[str] = field(default_factory=list)
    display: Display = "hidden"
    description: str = ""
    label: str = ""

    def __post_init__(self) -> None:
        if not is_agent_name(self.name) or self.name == MAIN_THREAD:
            raise ConfigurationError(
                f"thread name {self.name!r}: letters, digits or '_.-', and not {MAIN_THREAD!r}"
            )
        if self.max_steps < 1:
            raise ConfigurationError(f"thread {self.name!r}: max_steps must be at least 1")

    def spec(self) -> BlockSpec:
        return BlockSpec(
            kind="start_thread",
            thread=self.name,
            template=self.instructions,
            model=self.model,
            max_steps=self.max_steps,
            tools=list(self.tools),
            display=self.display,
            description=self.description,
            name=self.label,
        )


@dataclass(frozen=True)
class SerializeThread:
    """Write a thread's messages as text into a handler variable.

    Args:
        into: The variable (`{{VAR}}` in later blocks).
        thread: The thread (None: the main thread).
        format: "markdown" (a "**role**: text" paragraph per message) or "json".
    """

    into: str
    thread: str | None = None
    format: Literal["markdown", "json"] = "markdown"
    display: Display = "name"
    description: str = ""
    label: str = ""

    def spec(self) -> BlockSpec:
        return BlockSpec(
            kind="serialize_thread",
            thread=_thread(self.thread),
            into=self.into,
            format=self.format,
            display=self.display,
            description=self.description,
            name=self.label,
        )


def _thread(name: str | None) -> str | None:
    """The spec's thread name: None for the main thread."""
    return None if name in (None, MAIN_THREAD) else name


Block = AddMessage | Respond | CallTool | SetResource | StartThread | SerializeThread


@dataclass(frozen=True)
class Trigger:
    """A named way to start a turn besides a message: `await chat.trigger(name, input)`.

    Args:
        name: The trigger's name (letters, digits, '_.-').
        description: What it is for.
        input: A pydantic model of its input (its fields are template names), or None.
        steps: The blocks its turn runs, in order.
    """

    name: str
    description: str = ""
    input: type[BaseModel] | None = None
    steps: list[Block] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not is_agent_name(self.name):
            raise ConfigurationError(f"trigger name {self.name!r}: letters, digits or '_.-'")
        if self.name == USER_MESSAGE:
            raise ConfigurationError(f"{USER_MESSAGE!r} is the built-in trigger: send a message")

    def spec(self) -> TriggerSpec:
        schema = self.input.model_json_schema() if self.input is not None else None
        return TriggerSpec(
            name=self.name,
            description=self.description,
            input_schema=schema,
            steps=[block.spec() for block in self.steps],
        )


def input_fields(model: type[BaseModel] | None) -> list[str]:
    """The template names a pydantic model of inputs provides."""
    return list(model.model_fields) if model is not None else []
