"""The workflow's trigger decisions and the agent's definition-time checks (no servers)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from agentchat import Agent
from agentchat.errors import ConfigurationError, InvalidTriggerError
from agentchat.protocol.contracts import ChatState, SendInput
from agentchat.protocol.messages import user_message
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
