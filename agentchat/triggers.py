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
`SetResource` sets a resource (a `data-resource` chunk in the stream, kept in the chat).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from agentchat.errors import ConfigurationError
from agentchat.protocol.contracts import BlockSpec, ResourceSpec, TriggerSpec
from agentchat.protocol.identifiers import is_agent_name

__all__ = [
    "USER_MESSAGE",
    "AddMessage",
    "Block",
    "CallTool",
    "Resource",
    "Respond",
    "SetResource",
    "Trigger",
    "input_fields",
]

USER_MESSAGE = "user-message"
"""The built-in trigger: a user message (`send_message`), added and answered."""


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
    """

    role: Literal["user", "assistant", "system"]
    prompt_template: str
    hidden: bool = False

    def spec(self) -> BlockSpec:
        return BlockSpec(
            kind="add_message", role=self.role, template=self.prompt_template, hidden=self.hidden
        )


@dataclass(frozen=True)
class Respond:
    """Run the agentic loop: LLM steps and tool calls until the model answers."""

    def spec(self) -> BlockSpec:
        return BlockSpec(kind="respond")


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

    def spec(self) -> BlockSpec:
        return BlockSpec(
            kind="call_tool", tool=self.tool_name, input=self.input_template, into=self.into
        )


@dataclass(frozen=True)
class SetResource:
    """Set a resource to a templated value (a single `{{NAME}}` keeps the value's type)."""

    name: str
    value_template: str

    def spec(self) -> BlockSpec:
        return BlockSpec(kind="set_resource", resource=self.name, template=self.value_template)


Block = AddMessage | Respond | CallTool | SetResource


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
            name=self.name, input_schema=schema, steps=[block.spec() for block in self.steps]
        )


def input_fields(model: type[BaseModel] | None) -> list[str]:
    """The template names a pydantic model of inputs provides."""
    return list(model.model_fields) if model is not None else []
