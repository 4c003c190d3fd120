"""What a chat does with a trigger, as plain functions (no Temporal, no clock, no I/O): whether
the agent has it and its input fits, the values its templates see, a resource's chunk.

`ChatWorkflow` runs the blocks; these decide what each one reads and writes.
"""

from __future__ import annotations

from typing import Any

from agentchat.errors import InvalidTriggerError
from agentchat.protocol.contracts import AgentSpec, ChatState, TriggerSpec
from agentchat.protocol.messages import UIMessage
from agentchat.protocol.schemas import problem
from agentchat.protocol.triggers import trigger_of
from agentchat.workflows._inbox import Rejection

__all__ = ["check", "fill_resources", "find", "template_values"]


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
