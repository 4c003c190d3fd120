"""The workflow's trigger decisions and the agent's definition-time checks (no servers)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from agentchat import Agent
from agentchat.errors import ConfigurationError, InvalidTriggerError
from agentchat.protocol.contracts import ChatState, SendInput
from agentchat.protocol.messages import UIMessage, user_message
from agentchat.protocol.triggers import trigger_message
from agentchat.tools import SET_RESOURCE_TOOL, ToolContext, tool
from agentchat.triggers import AddMessage, CallTool, Resource, Respond, SetResource, Trigger
from agentchat.workflows import _inbox, _triggers


class Company(BaseModel):
    COMPANY_NAME: str
    PLAN: str = "free"


class Feedback(BaseModel):
    RATING: int


@tool
async def lookup(user: str) -> dict[str, str]:
    """Look a user up."""
    return {"id": user}


def agent(**changes: object) -> Agent:
    options: dict[str, object] = {
        "name": "support",
        "instructions": "Help {{COMPANY_NAME}} ({{PLAN}}). Summary: {{SUMMARY}}",
        "inputs": Company,
        "tools": [lookup],
        "resources": [Resource("SUMMARY", default="", model_writable=True)],
        "triggers": [
            Trigger(
                "feedback",
                input=Feedback,
                steps=[
                    AddMessage("user", "Rated {{RATING}} by {{COMPANY_NAME}}", hidden=True),
                    CallTool("lookup", {"user": "{{COMPANY_NAME}}"}, into="USER"),
                    SetResource("SUMMARY", "rated {{RATING}} for {{USER.id}}"),
                    Respond(),
                ],
            )
        ],
    }
    options.update(changes)
    return Agent(**options)  # type: ignore[arg-type]


def test_a_valid_agent_has_its_protocol_in_the_spec() -> None:
    spec = agent().spec()
    assert [t.name for t in spec.triggers] == ["feedback"]
    assert [b.kind for b in spec.triggers[0].steps] == [
        "add_message",
        "call_tool",
        "set_resource",
        "respond",
    ]
    assert spec.resources[0].name == "SUMMARY"
    assert SET_RESOURCE_TOOL in [t.name for t in spec.tools]  # model_writable


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"instructions": "Hi {{NOPE}}"}, r"instructions: unknown template name \{\{NOPE\}\}"),
        (
            {"triggers": [Trigger("t", steps=[AddMessage("user", "{{RATING}}")])]},
            r"trigger 't' step 1: unknown template name \{\{RATING\}\}",
        ),
        (
            {"triggers": [Trigger("t", steps=[SetResource("SUMMARY", "{{USER}}")])]},
            r"unknown template name \{\{USER\}\}",  # a variable used before it is set
        ),
        (
            {"triggers": [Trigger("t", steps=[CallTool("lookup", {"user": "{{X}}"})])]},
            r"unknown template name \{\{X\}\}",
        ),
        ({"triggers": [Trigger("t", steps=[SetResource("OTHER", "x")])]}, "no resource"),
        ({"triggers": [Trigger("t", steps=[CallTool("missing")])]}, "no tool named 'missing'"),
        ({"triggers": [Trigger("t"), Trigger("t")]}, "triggers named twice"),
    ],
)
def test_unknown_names_fail_when_the_agent_is_defined(
    changes: dict[str, object], error: str
) -> None:
    with pytest.raises(ConfigurationError, match=error):
        agent(**changes)


def test_user_message_is_the_built_in_trigger() -> None:
    with pytest.raises(ConfigurationError, match="built-in"):
        Trigger("user-message")


def test_inputs_are_validated_with_defaults() -> None:
    assert agent().validate_inputs({"COMPANY_NAME": "Acme"}) == {
        "COMPANY_NAME": "Acme",
        "PLAN": "free",
    }
    with pytest.raises(ValueError, match="COMPANY_NAME: Field required"):
        agent().validate_inputs({})
    rendered = agent().render_instructions({"COMPANY_NAME": "Acme", "PLAN": "pro"}, {})
    assert rendered == "Help Acme (pro). Summary: "


def test_trigger_checks_name_and_input() -> None:
    spec = agent().spec()
    assert _triggers.check(spec, trigger_message("t-1", "feedback", {"RATING": 4})) is None
    for message, text in [
        (trigger_message("t-2", "nope", None), "has no trigger 'nope' (its triggers: feedback)"),
        (trigger_message("t-3", "feedback", {}), "trigger 'feedback': input.RATING: missing"),
        (trigger_message("t-4", "feedback", {"RATING": "x"}), "expected integer, got str"),
        (user_message("plain", "m-1"), "needs a data-trigger part"),
    ]:
        rejection = _triggers.check(spec, message)
        assert rejection is not None and rejection.error is InvalidTriggerError
        assert text in rejection.message


def test_template_values_layer_inputs_resources_input_and_variables() -> None:
    spec = agent().spec()
    state = ChatState(chat_id="c", agent="support", inputs={"COMPANY_NAME": "Acme"})
    assert _triggers.fill_resources(state, spec) == {"SUMMARY": ""}
    state.resources = {"SUMMARY": "s"}
    values = _triggers.template_values(state, spec, {"RATING": 3}, {"USER": {"id": "u"}})
    assert values == {"SUMMARY": "s", "COMPANY_NAME": "Acme", "RATING": 3, "USER": {"id": "u"}}


def test_a_trigger_is_admitted_like_a_message() -> None:
    state = ChatState(chat_id="c", agent="support")
    req = SendInput(
        message=trigger_message("t-1", "feedback", {"RATING": 1}), agent="support", kind="trigger"
    )
    assert (
        _inbox.admit(state, req, active_turn=3, on_busy="reject").verdict is _inbox.Verdict.REJECT
    )
    assert _inbox.admit(state, req, active_turn=3, on_busy="queue").verdict is _inbox.Verdict.QUEUE
    busy = _inbox.screen(state, req.message, kind="trigger", on_busy="reject", active_turn=3)
    assert busy is not None


def test_tool_context_sets_declared_resources_only() -> None:
    seen: list[tuple[str, object]] = []
    ctx = ToolContext(
        chat_id="c",
        agent="a",
        client_data=None,
        tool_call_id="x",
        idempotency_key="k",
        turn=1,
        attempt=1,
        resource_names=["SUMMARY"],
    )
    ctx._on_resource = lambda name, value: seen.append((name, value))
    ctx.set_resource("SUMMARY", {"a": 1})
    assert ctx.changed_resources == {"SUMMARY": {"a": 1}} and seen == [("SUMMARY", {"a": 1})]
    with pytest.raises(ValueError, match="no resource named 'OTHER'"):
        ctx.set_resource("OTHER", 1)


def test_operations_show_visible_blocks_by_their_display() -> None:
    from agentchat.triggers import SerializeThread, StartThread

    assert _triggers.operation(CallTool("lookup").spec()) == "lookup"
    assert _triggers.operation(SetResource("S", "x").spec()) == "Set S"
    described = SetResource("S", "x", display="description", description="Saving").spec()
    assert _triggers.operation(described) == "Saving"
    assert _triggers.operation(SetResource("S", "x", display="hidden").spec()) is None
    assert _triggers.operation(StartThread("summary").spec()) is None  # hidden by default
    assert _triggers.operation(SerializeThread("V").spec()) == "Serialize thread main"
    assert _triggers.operation(Respond().spec()) is None  # its answer streams instead
    assert _triggers.operation(Respond(thread="t", display="name").spec()) == "Respond in thread t"
    assert _triggers.operation(AddMessage("user", "hi").spec()) is None
    # A spec from before displays: its kind's default.
    legacy = CallTool("lookup").spec().model_copy(update={"display": None})
    assert _triggers.operation(legacy) == "lookup"
    part = _triggers.operation_part(3, 1, CallTool("lookup").spec(), "lookup", "done")
    assert part == {
        "type": "data-operation",
        "id": "op-t3-b1",
        "data": {"kind": "call_tool", "label": "lookup", "status": "done", "thread": None},
    }


def test_serialize_writes_a_threads_text() -> None:
    messages = [
        user_message("hello", "u1"),
        UIMessage(id="a1", role="assistant", parts=[{"type": "text", "text": "hi"}]),
        UIMessage(id="a2", role="assistant", parts=[{"type": "tool-x", "toolCallId": "c"}]),
    ]
    assert _triggers.serialize(messages, "markdown") == "**user**: hello\n\n**assistant**: hi"
    assert _triggers.serialize(messages, "json") == (
        '[{"role": "user", "text": "hello"}, {"role": "assistant", "text": "hi"}]'
    )


def test_a_thread_used_before_its_start_runs_as_the_agent_starts_it() -> None:
    from agentchat.triggers import StartThread

    agent = Agent(
        name="a",
        triggers=[
            Trigger("begin", steps=[StartThread("t", "Be brief", model="offline", max_steps=2)]),
            Trigger("use", steps=[Respond(thread="t")]),
        ],
    )
    thread = _triggers.unstarted(agent.spec(), "t")
    assert (thread.instructions, thread.model, thread.max_steps) == ("Be brief", "offline", 2)
    assert set(agent.threads()) == {"t"}
