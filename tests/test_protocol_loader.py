"""`Agent.from_protocol`: Octavus protocol folders mapped onto agentchat's Python API."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from agentchat import Agent
from agentchat.errors import ConfigurationError
from agentchat.models.anthropic import AnthropicModel
from agentchat.protocol_loader import protocol_arguments
from agentchat.tools import ToolContext, tool
from agentchat.triggers import (
    AddMessage,
    CallTool,
    Respond,
    SerializeThread,
    SetResource,
    StartThread,
)
from examples.support.tools import tools as support_tools
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "support"


@tool
async def lookup(query: str, limit: int = 3) -> list[str]:
    """Search."""
    return [query] * limit


@tool
async def open_ticket(summary: str, ctx: ToolContext) -> dict[str, str]:
    """Open a ticket."""
    return {"id": "T-1"}


BASE: dict[str, Any] = {
    "input": {"COMPANY": {"type": "string"}},
    "resources": {"NOTES": {"type": "string", "default": ""}},
    "triggers": {
        "user-message": {"input": {"USER_MESSAGE": {"type": "string"}}},
        "escalate": {"description": "Hand over", "input": {"REASON": {"type": "string"}}},
    },
    "variables": {"TICKET": {"type": "unknown"}, "TEXT": {"type": "string"}},
    "tools": {
        "lookup": {"description": "Search the docs", "parameters": {"query": {"type": "string"}}},
        "open-ticket": {
            "description": "Open a ticket",
            "parameters": {"summary": {"type": "string"}},
        },
    },
    "agent": {
        "model": "openai/gpt-4o",
        "system": "system",
        "input": ["COMPANY"],
        "tools": ["lookup", "open-ticket"],
        "agentic": True,
    },
    "handlers": {
        "user-message": {
            "Add": {
                "block": "add-message",
                "role": "user",
                "prompt": "user-message",
                "input": ["USER_MESSAGE"],
            },
            "Respond": {"block": "next-message"},
        },
        "escalate": {
            "Ticket": {
                "block": "tool-call",
                "tool": "open-ticket",
                "input": {"summary": "REASON"},
                "output": "TICKET",
            },
            "Note": {"block": "set-resource", "resource": "NOTES", "value": "TICKET"},
            "Tell": {
                "block": "add-message",
                "role": "user",
                "prompt": "directive",
                "input": [{"DETAILS": "TICKET"}],
                "visible": False,
            },
            "Respond": {"block": "next-message"},
        },
    },
}
PROMPTS = {
    "system": "You help {{COMPANY}}.",
    "user-message": "{{USER_MESSAGE}}",
    "directive": "Ticket: {{DETAILS}}",
}


def write(
    folder: Path,
    protocol: dict[str, Any] | str | None = None,
    prompts: dict[str, str] | None = None,
) -> Path:
    """A protocol folder: BASE (or `protocol`) and PROMPTS (or `prompts`)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = BASE if protocol is None else protocol
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    (folder / "protocol.yaml").write_text(text)
    for name, prompt in (PROMPTS if prompts is None else prompts).items():
        path = folder / "prompts" / f"{name}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(prompt + "\n")
    return folder


def changed(**paths: Any) -> dict[str, Any]:
    """BASE with values replaced at dotted paths ("agent.model"); None deletes the key."""
    data = copy.deepcopy(BASE)
    for dotted, value in paths.items():
        *parents, last = dotted.split("__")
        target = data
        for part in parents:
            target = target[part]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return data


def load(folder: Path, **options: Any) -> Agent:
    return Agent.from_protocol(folder, tools=[lookup, open_ticket], **options)


def error(folder: Path, **options: Any) -> str:
    with pytest.raises(ConfigurationError) as caught:
        Agent.from_protocol(folder, tools=options.pop("tools", [lookup, open_ticket]), **options)
    return str(caught.value)


# -- the example -------------------------------------------------------------------------


def test_the_support_example_loads_into_the_agent_it_describes() -> None:
    agent = Agent.from_protocol(EXAMPLE, tools=support_tools, model="offline")
    assert agent.name == "support"  # settings.json's slug
    assert agent.model == "offline"
    assert agent.max_steps == 10
    assert isinstance(agent.instructions, str)
    assert agent.instructions.startswith("You are a friendly support agent for {{COMPANY_NAME}}.")
    assert agent.inputs is not None
    inputs = agent.inputs.model_validate({"USER_ID": "u-1"}).model_dump()
    assert inputs == {
        "COMPANY_NAME": "Acme",
        "PRODUCT_NAME": "Acme Cloud",
        "SUPPORT_POLICIES": "",
        "USER_ID": "u-1",
    }
    [summary] = agent.resources
    assert (summary.name, summary.default, summary.model_writable) == (
        "CONVERSATION_SUMMARY",
        "",
        False,
    )
    assert summary.description.startswith("Summary of the conversation")
    [trigger] = agent.triggers  # user-message is the built-in message path
    assert (trigger.name, trigger.description, trigger.input) == (
        "request-human",
        'The user clicks "Talk to a human"',
        None,
    )
    assert trigger.steps == [
        SerializeThread(
            "CONVERSATION_TEXT",
            None,
            "markdown",
            "name",
            "Serialize conversation",
            label="Serialize conversation",
        ),
        StartThread(
            "summary",
            "You summarise customer support conversations of {{COMPANY_NAME}} for the human"
            " agent who takes\nover. Write three to five sentences: what the customer wants,"
            " what was tried, what is still\nopen. Answer with the summary only.",
            None,  # model= replaces the threads' models too
            1,
            [],
            "hidden",
            "Start summary thread",
            label="Start summary thread",
        ),
        AddMessage(
            "user",
            "Summarise this conversation for the human agent:\n\n{{CONVERSATION_TEXT}}",
            thread="summary",
        ),
        Respond(
            "summary",
            "SUMMARY",
            "description",
            "Summarizing your conversation",
            label="Generate summary",
        ),
        SetResource("CONVERSATION_SUMMARY", "{{SUMMARY}}", "name", "Save summary", "Save summary"),
        CallTool(
            "create-support-ticket",
            {"summary": "{{SUMMARY}}", "priority": "medium"},
            "TICKET",
            "description",
            "Create a support ticket for a human agent",
            label="Create ticket",
        ),
        AddMessage(
            "user",
            "A support ticket has been created for a human agent:\n\n{{TICKET}}\n\nTell the user"
            " that a person will follow up, with the ticket id and the expected response time.",
            hidden=True,
        ),
        Respond(None, None, "stream", "Respond", label="Respond"),
    ]
    assert [t.name for t in agent.tools] == ["get-user-account", "create-support-ticket"]
    ticket = agent.tool("create-support-ticket")
    assert ticket is not None
    assert ticket.description == "Create a support ticket for a human agent"
    assert ticket.parameters["properties"]["priority"]["enum"] == [
        "low",
        "medium",
        "high",
        "urgent",
    ]
    assert ticket.parameters["required"] == ["summary", "priority"]
    assert getattr(ticket, "display", "description") == "description"  # Octavus's default


def test_the_example_keeps_its_own_models_unless_told_otherwise() -> None:
    arguments = protocol_arguments(EXAMPLE, tools=support_tools)
    assert arguments["model"] == "anthropic:claude-sonnet-4-5"
    start = arguments["triggers"][0].steps[1]
    assert isinstance(start, StartThread) and start.model == "anthropic:claude-haiku-4-5"


def test_the_example_module_exposes_the_agent() -> None:
    from examples.support.agent import support

    assert support.name == "support" and support.model == "offline"


# -- mappings ----------------------------------------------------------------------------


def test_a_protocol_maps_onto_inputs_resources_triggers_and_tools(tmp_path: Path) -> None:
    agent = load(write(tmp_path / "helpdesk"))
    assert agent.name == "helpdesk"  # no settings.json: the folder's name
    assert agent.model == "openai:gpt-4o"
    assert agent.instructions == "You help {{COMPANY}}."
    assert agent.max_steps == 10  # agentic without maxSteps
    [trigger] = agent.triggers
    assert trigger.input is not None and list(trigger.input.model_fields) == ["REASON"]
    assert trigger.steps == [
        CallTool(
            "open-ticket",
            {"summary": "{{REASON}}"},
            "TICKET",
            "description",
            "Open a ticket",
            label="Ticket",
        ),
        SetResource("NOTES", "{{TICKET}}", "name", "Note", label="Note"),
        AddMessage("user", "Ticket: {{TICKET}}", hidden=True),  # the label is renamed
        Respond(None, None, "stream", "Respond", label="Respond"),
    ]
    assert [t.name for t in agent.tools] == ["lookup", "open-ticket"]  # open_ticket renamed
    found = agent.tool("lookup")
    assert found is not None and found.description == "Search the docs"
    assert found.parameters == {
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
    }


def test_options_override_the_file(tmp_path: Path) -> None:
    agent = load(write(tmp_path / "p"), name="other", model="offline", max_steps=3)
    assert (agent.name, agent.model, agent.max_steps) == ("other", "offline", 3)
    assert load(write(tmp_path / "q", changed(agent__agentic=None))).max_steps == 1
    assert load(write(tmp_path / "r", changed(agent__maxSteps=4))).max_steps == 4


def test_input_types(tmp_path: Path) -> None:
    fields = {
        "COMPANY": {"type": "string", "optional": True, "default": "Acme"},
        "S": {"type": "string", "description": "a string"},
        "N": {"type": "number"},
        "I": {"type": "integer", "optional": True},
        "B": {"type": "boolean", "default": False},
        "U": {"type": "unknown"},
        "O": {"type": "object", "optional": True},
        "A": {"type": "array", "items": {"type": "integer"}, "optional": True},
        "L": {"type": "string[]", "optional": True},
        "E": {"type": "string", "enum": ["a", "b"], "default": "a"},
    }
    agent = load(write(tmp_path / "p", changed(input=fields)))
    assert agent.inputs is not None
    value = agent.inputs.model_validate({"S": "s", "N": 1.5, "U": [1], "A": [1, 2], "L": ["x"]})
    assert value.model_dump() == {
        "COMPANY": "Acme",
        "S": "s",
        "N": 1.5,
        "I": None,
        "B": False,
        "U": [1],
        "O": None,
        "A": [1, 2],
        "L": ["x"],
        "E": "a",
    }
    assert agent.inputs.model_fields["S"].description == "a string"
    for bad in ({"N": 1}, {"S": "s", "N": 1, "U": 1, "E": "c"}, {"S": "s", "N": "x", "U": 1}):
        with pytest.raises(ValidationError):
            agent.inputs.model_validate(bad)


def test_threads_map_onto_start_and_serialize(tmp_path: Path) -> None:
    handler = {
        "Text": {"block": "serialize-thread", "format": "json", "output": "TEXT"},
        "Start": {
            "block": "start-thread",
            "thread": "side",
            "model": "anthropic/claude-haiku-4-5",
            "maxSteps": 2,
            "system": "side",
            "input": ["COMPANY"],
            "tools": ["lookup"],
        },
        "Ask": {
            "block": "add-message",
            "thread": "side",
            "role": "user",
            "prompt": "ask",
            "input": [{"CONVERSATION": "TEXT"}],
        },
        "Answer": {
            "block": "next-message",
            "thread": "side",
            "independent": True,
            "output": "TICKET",
            "display": "hidden",
        },
    }
    prompts = {**PROMPTS, "side": "Side work for {{COMPANY}}.", "ask": "Read {{CONVERSATION}}"}
    agent = load(write(tmp_path / "p", changed(handlers__escalate=handler), prompts))
    assert agent.triggers[0].steps == [
        SerializeThread("TEXT", None, "json", "name", "Text", label="Text"),
        StartThread(
            "side", "Side work for {{COMPANY}}.", "anthropic:claude-haiku-4-5", 2, ["lookup"],
            "hidden", "Start", label="Start",
        ),
        AddMessage("user", "Read {{TEXT}}", thread="side"),
        Respond("side", "TICKET", "hidden", "Answer", label="Answer"),
    ]  # fmt: skip


def test_thinking_and_output_tokens_make_an_anthropic_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    agent_spec = {**BASE["agent"], "model": "anthropic/claude-sonnet-4-5", "thinking": "low"}
    agent_spec["maxOutputTokens"] = 2000
    agent = load(write(tmp_path / "p", changed(agent=agent_spec)))
    assert isinstance(agent.model, AnthropicModel)
    assert agent.model.name == "anthropic:claude-sonnet-4-5"
    # Replaced with the model when the caller gives one.
    assert load(write(tmp_path / "q", changed(agent=agent_spec)), model="offline").model == (
        "offline"
    )


def test_a_tool_declared_but_not_offered_is_left_out(tmp_path: Path) -> None:
    spec = changed(agent__tools=["open-ticket"])
    agent = load(write(tmp_path / "p", spec))
    assert [t.name for t in agent.tools] == ["open-ticket"]


# -- what cannot be mapped, and malformed folders ----------------------------------------


def test_a_missing_folder_or_file(tmp_path: Path) -> None:
    assert "protocol folder" in error(tmp_path / "nowhere") and "does not exist" in error(
        tmp_path / "nowhere"
    )
    (tmp_path / "empty").mkdir()
    assert error(tmp_path / "empty").startswith("protocol.yaml: no such file")


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    folder = write(tmp_path / "p", "input:\n  A: {type: string}\nagent: [unclosed\n")
    message = error(folder)
    assert message.startswith("protocol.yaml: line 4, column 1: invalid YAML"), message


@pytest.mark.parametrize(
    ("paths", "key", "what"),
    [
        ({"input": ["A"]}, "input", "must be a mapping, not a list"),
        ({"agent__maxSteps": "ten"}, "agent.maxSteps", "must be a positive integer"),
        ({"tools__lookup__parameters": "query"}, "tools.lookup.parameters", "must be a mapping"),
        ({"input__COMPANY__type": "Company"}, "input.COMPANY.type", "custom type 'Company'"),
        ({"input__COMPANY__type": "file"}, "input.COMPANY.type", "'file' is not supported"),
        ({"input__COMPANY__typo": 1}, "input.COMPANY.typo", "unknown key"),
        ({"skills": {"qr": {}}}, "skills", "not supported"),
        ({"types": {"T": {}}}, "types", "custom types are not supported"),
        ({"unknown": 1}, "unknown", "unknown key"),
        ({"agent__webSearch": True}, "agent.webSearch", "not supported"),
        ({"agent__model": "google/gemini-2.5-flash"}, "agent.model", "'google' is not supported"),
        ({"agent__model": "MODEL"}, "agent.model", "a model chosen by an input"),
        ({"agent__system": None}, "agent.system", "missing"),
        ({"agent__tools": ["nope"]}, "agent.tools[0]", "unknown tool 'nope'"),
        ({"agent__input": ["TICKET"]}, "agent.input.TICKET", "handler variables are not"),
        ({"agent__input": ["NOPE"]}, "agent.input.NOPE", "unknown variable 'NOPE'"),
        ({"agent__thinking": "low"}, "agent.thinking", "only anthropic models"),
        ({"variables__TEXT__default": ""}, "variables.TEXT.default", "not supported"),
        ({"resources__NOTES__readonly": True}, "handlers.escalate[1].resource", "readonly"),
        ({"handlers__escalate": None}, "triggers.escalate", "has no handler"),
        ({"triggers__escalate": None}, "handlers.escalate", "no trigger named 'escalate'"),
        (
            {"handlers__escalate__Ticket__block": "run"},
            "handlers.escalate[0].block",
            "unknown block type 'run'",
        ),
        (
            {"handlers__escalate__Ticket__block": "generate-image"},
            "handlers.escalate[0].block",
            "not supported",
        ),
        (
            {"handlers__escalate__Ticket__tool": "nope"},
            "handlers.escalate[0].tool",
            "unknown tool 'nope'",
        ),
        (
            {"handlers__escalate__Ticket__input": {"summary": "NOPE"}},
            "handlers.escalate[0].input.summary",
            "unknown variable 'NOPE'",
        ),
        (
            {"handlers__escalate__Ticket__input": {"other": "x"}},
            "handlers.escalate[0].input.other",
            "no parameter 'other'",
        ),
        (
            {"handlers__escalate__Ticket__input": {}},
            "handlers.escalate[0].input",
            "required parameter 'summary'",
        ),
        (
            {"handlers__escalate__Ticket__output": "NOPE"},
            "handlers.escalate[0].output",
            "undeclared variable 'NOPE'",
        ),
        (
            {"handlers__escalate__Note__resource": "NOPE"},
            "handlers.escalate[1].resource",
            "unknown resource 'NOPE'",
        ),
        (
            {"handlers__escalate__Note__value": "TEXT"},
            "handlers.escalate[1].value",
            "not set by an earlier block",
        ),
        (
            {"handlers__escalate__Note__value": 3},
            "handlers.escalate[1].value",
            "other than a string",
        ),
        (
            {"handlers__escalate__Tell__prompt": "nope"},
            "handlers.escalate[2].prompt",
            "no such file prompts/nope.md",
        ),
        (
            {"handlers__escalate__Tell__prompt": "../x"},
            "handlers.escalate[2].prompt",
            "inside prompts/",
        ),
        ({"handlers__escalate__Tell__role": "tool"}, "handlers.escalate[2].role", "must be user"),
        (
            {"handlers__escalate__Tell__uiContent": "X"},
            "handlers.escalate[2].uiContent",
            "not supported",
        ),
        (
            {"handlers__escalate__Tell__thread": "side"},
            "handlers.escalate[2].thread",
            "unknown thread 'side'",
        ),
        (
            {"handlers__escalate__Respond__independent": True},
            "handlers.escalate[3].independent",
            "main thread",
        ),
        (
            {"handlers__escalate__Respond__display": "loud"},
            "handlers.escalate[3].display",
            "must be one of",
        ),
        (
            {"handlers__escalate__Respond__responseType": "T"},
            "handlers.escalate[3].responseType",
            "structured output",
        ),
        (
            {
                "handlers__user-message__Add__prompt": "directive",
                "handlers__user-message__Add__input": [{"DETAILS": "USER_MESSAGE"}],
            },
            "handlers.user-message[0].prompt",
            "built-in path",
        ),
        (
            {"handlers__user-message__Respond__output": "TEXT"},
            "handlers.user-message[1].output",
            "built-in path",
        ),
        (
            {"handlers__user-message__Extra": {"block": "next-message"}},
            "handlers.user-message",
            "3 blocks",
        ),
        (
            {"triggers__user-message__input": {"A": {"type": "integer"}}},
            "triggers.user-message.input",
            "one string field",
        ),
        (
            {"agent__tools": ["lookup"]},
            "handlers.escalate[0].tool",
            "must also be listed in agent.tools",
        ),
    ],
)
def test_malformed_protocols_name_the_file_and_the_key(
    tmp_path: Path, paths: dict[str, Any], key: str, what: str
) -> None:
    message = error(write(tmp_path / "p", changed(**paths)))
    assert message.startswith(f"protocol.yaml: {key}: "), message
    assert what in message, message


def test_an_unknown_variable_in_a_prompt_names_the_prompt(tmp_path: Path) -> None:
    prompts = {**PROMPTS, "directive": "Ticket {{DETAILS}} for {{COMPANY}}"}
    message = error(write(tmp_path / "p", prompts=prompts))
    assert message.startswith("prompts/directive.md: {{COMPANY}} is not passed to this prompt"), (
        message
    )
    assert "handlers.escalate[2].input" in message
    message = error(write(tmp_path / "q", prompts={**PROMPTS, "system": "Hi {{USER}}"}))
    assert message.startswith("prompts/system.md: {{USER}} is not passed"), message
    assert "agent.input" in message


def test_a_thread_started_elsewhere_and_main(tmp_path: Path) -> None:
    spec = changed(handlers__escalate__Start={"block": "start-thread", "thread": "main"})
    message = error(write(tmp_path / "p", spec))
    assert message.startswith("protocol.yaml: handlers.escalate[4].thread: 'main'"), message


def test_python_tools_must_match_the_declared_ones(tmp_path: Path) -> None:
    folder = write(tmp_path / "p")
    message = error(folder, tools=[lookup])
    assert message.startswith("protocol.yaml: tools.open-ticket: no Python tool implements it")

    @tool
    async def stray() -> str:
        """Not declared."""
        return ""

    message = error(folder, tools=[lookup, open_ticket, stray])
    assert message.startswith("protocol.yaml: tools: the Python tool 'stray' is not declared")
    spec = changed(tools__lookup__parameters={"q": {"type": "string"}})
    message = error(write(tmp_path / "q", spec))
    assert message.startswith("protocol.yaml: tools.lookup.parameters.q: the Python tool"), message
    spec = changed(tools__lookup__parameters={})
    message = error(write(tmp_path / "r", spec))
    assert message.startswith("protocol.yaml: tools.lookup.parameters: missing 'query'"), message
    with pytest.raises(ConfigurationError, match="is not a Tool"):
        Agent.from_protocol(folder, tools=[len])  # type: ignore[list-item]


def test_settings_json(tmp_path: Path) -> None:
    folder = write(tmp_path / "p")
    (folder / "settings.json").write_text('{"slug": "desk", "format": "interactive"}')
    assert load(folder).name == "desk"
    (folder / "settings.json").write_text('{"slug": "desk", "format": "worker"}')
    assert error(folder).startswith("settings.json: format: 'worker' agents are not supported")
    (folder / "settings.json").write_text("{")
    assert error(folder).startswith("settings.json: invalid JSON")


def test_without_pyyaml_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)
    assert "pip install 'agentchat[protocol]'" in error(write(tmp_path / "p"))
