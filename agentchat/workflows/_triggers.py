"""What a chat does with a trigger, as plain functions (no Temporal, no clock, no I/O): whether
the agent has it and its input fits, the values its templates see, a resource's chunk.

`ChatWorkflow` runs the blocks; these decide what each one reads and writes.
"""

from __future__ import annotations

import json
from typing import Any

from agentchat.errors import InvalidTriggerError
from agentchat.protocol.contracts import AgentSpec, BlockSpec, ChatState, ThreadState, TriggerSpec
from agentchat.protocol.messages import UIMessage
from agentchat.protocol.schemas import problem
from agentchat.protocol.triggers import trigger_of
from agentchat.workflows._inbox import Rejection

__all__ = [
    "check",
    "fill_resources",
    "find",
    "operation",
    "operation_part",
    "serialize",
    "started",
    "template_values",
    "text_of",
    "thread_part",
    "unstarted",
]


def find(spec: AgentSpec, name: str) -> TriggerSpec | None:
    return next((t for t in spec.triggers if t.name == name), None)


def check(spec: AgentSpec, message: UIMessage) -> Rejection | None:
    """The refusal of a trigger the agent lacks or whose input its schema refuses."""
    found = trigger_of(message)
    if found is None:
        return Rejection(InvalidTriggerError, "a trigger needs a data-trigger part naming it")
    name, value = found
    trigger = find(spec, name)
    if trigger is None:
        known = ", ".join(t.name for t in spec.triggers) or "none"
        return Rejection(
            InvalidTriggerError,
            f"agent {spec.name!r} has no trigger {name!r} (its triggers: {known})",
        )
    if trigger.input_schema is None:
        if value not in (None, {}):
            return Rejection(InvalidTriggerError, f"trigger {name!r} takes no input")
        return None
    wrong = problem(trigger.input_schema, value if value is not None else {})
    if wrong is not None:
        return Rejection(InvalidTriggerError, f"trigger {name!r}: {wrong}")
    return None


def fill_resources(state: ChatState, spec: AgentSpec) -> dict[str, Any]:
    """The chat's resources with the agent's defaults for those never set."""
    values = {r.name: r.default for r in spec.resources if r.name not in state.resources}
    return {**state.resources, **values}


def template_values(
    state: ChatState, spec: AgentSpec, trigger_input: Any, variables: dict[str, Any]
) -> dict[str, Any]:
    """What a handler's templates read: inputs, resources, the trigger's input fields and the
    handler's variables (later ones shadow earlier ones)."""
    values: dict[str, Any] = {**fill_resources(state, spec), **state.inputs}
    if isinstance(trigger_input, dict):
        values.update(trigger_input)
    values.update(variables)
    return values


_DEFAULT_DISPLAY = {
    "add_message": "stream",
    "respond": "stream",
    "call_tool": "name",
    "set_resource": "name",
    "start_thread": "hidden",
    "serialize_thread": "name",
}
"""What clients see of a block whose spec names no display (specs from before displays)."""


def operation(block: BlockSpec) -> str | None:
    """The label of the operation part a block streams, or None when it streams none: hidden
    blocks, messages, and answers shown as they are written."""
    display = block.display or ("hidden" if block.hidden else _DEFAULT_DISPLAY[block.kind])
    if display == "hidden" or block.kind == "add_message":
        return None
    if block.kind == "respond" and display == "stream":
        return None
    if display == "description" and block.description:
        return block.description
    if block.name:
        return block.name
    if block.kind == "call_tool":
        return str(block.tool)
    if block.kind == "set_resource":
        return f"Set {block.resource}"
    if block.kind == "start_thread":
        return f"Start thread {block.thread}"
    if block.kind == "serialize_thread":
        return f"Serialize thread {block.thread or 'main'}"
    return f"Respond in thread {block.thread}" if block.thread else "Respond"


def operation_part(
    turn: int, index: int, block: BlockSpec, label: str, status: str
) -> dict[str, Any]:
    """A block's `data-operation` part: one id per block of a turn, so the AI SDK replaces
    the running part with the done one."""
    return {
        "type": "data-operation",
        "id": f"op-t{turn}-b{index}",
        "data": {"kind": block.kind, "label": label, "status": status, "thread": block.thread},
    }


def thread_part(thread: str, message_id: str, text: str) -> dict[str, Any]:
    """What the main answer keeps of a named thread's shown answer: a `data-thread` part
    (models skip data parts, so the main thread's model still never reads it)."""
    return {
        "type": "data-thread",
        "id": f"thread-{message_id}",
        "data": {"thread": thread, "messageId": message_id, "text": text},
    }


def text_of(parts: list[dict[str, Any]]) -> str:
    """The text an answer's parts say (its text parts, joined)."""
    return "".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")


def serialize(messages: list[UIMessage], format: str) -> str:
    """A thread's messages as text for a variable: markdown paragraphs or a JSON list."""
    rows = [(m.role, text_of(m.parts)) for m in messages]
    rows = [(role, text) for role, text in rows if text]
    if format == "json":
        return json.dumps([{"role": role, "text": text} for role, text in rows])
    return "\n\n".join(f"**{role}**: {text}" for role, text in rows)


def started(block: BlockSpec) -> ThreadState:
    """The empty thread a `start_thread` block starts."""
    return ThreadState(
        instructions=block.template,
        model=block.model,
        max_steps=block.max_steps,
        tools=block.tools,
    )


def unstarted(spec: AgentSpec | None, name: str) -> ThreadState:
    """A thread used before this chat ran its `start_thread`: as the agent starts it."""
    for trigger in spec.triggers if spec is not None else []:
        for block in trigger.steps:
            if block.kind == "start_thread" and block.thread == name:
                return started(block)
    return ThreadState()
