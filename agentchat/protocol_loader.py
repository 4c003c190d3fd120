"""Agents written in Octavus's protocol layout: `protocol.yaml` plus `prompts/*.md`.

```python
support = Agent.from_protocol("examples/support", tools=[create_support_ticket], model="offline")
```

The folder maps onto the Python API of `agentchat.triggers` (docs/agent-protocol.md has the
table): `input` becomes the agent's pydantic model of inputs, `resources` its `Resource`s,
`triggers` and `handlers` its `Trigger`s made of blocks, `tools` describes the Python tools
passed in `tools=` (attached by name), and `agent` gives the model, the system prompt, the
tools the model may call and its step limit. The `user-message` trigger is agentchat's own
message path. Whatever agentchat cannot do the way the file says raises a
`ConfigurationError` naming the file, the key and why; nothing is dropped silently.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, NoReturn, cast

from pydantic import BaseModel, Field, create_model

from agentchat.errors import ConfigurationError
from agentchat.models import Model
from agentchat.protocol import templates
from agentchat.protocol.contracts import Display
from agentchat.protocol.identifiers import is_agent_name
from agentchat.tools import Tool
from agentchat.triggers import (
    MAIN_THREAD,
    USER_MESSAGE,
    AddMessage,
    Block,
    CallTool,
    Resource,
    Respond,
    SerializeThread,
    SetResource,
    StartThread,
    Trigger,
)

__all__ = ["PROTOCOL_FILE", "protocol_arguments"]

PROTOCOL_FILE = "protocol.yaml"
SETTINGS_FILE = "settings.json"
PROMPTS = "prompts"

_VARIABLE = re.compile(r"[A-Z][A-Z0-9_]*")
"""How a bare value in a block names a variable (Octavus's UPPER_SNAKE_CASE)."""
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
"""A name templates can refer to (inputs, resources, variables)."""
_REFERENCE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_]+)*)\s*\}\}")
_DISPLAYS = ("hidden", "name", "description", "stream")
_SCALARS: dict[str, Any] = {
    "string": str,
    "number": float,
    "integer": int,
    "boolean": bool,
    "unknown": Any,
    "object": dict[str, Any],
    "array": list[Any],
}
_JSON_TYPES = {
    "string": "string",
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
    "object": "object",
    "array": "array",
}
_THINKING_BUDGETS = {"low": 5_000, "medium": 10_000, "high": 20_000, "max": 40_000}
"""Anthropic thinking budgets for Octavus's `thinking` levels (its figures for fixed-budget
models)."""

_TOP_LEVEL = ("input", "resources", "triggers", "variables", "tools", "agent", "handlers")
_UNSUPPORTED_TOP_LEVEL = {
    "types": "custom types are not supported: use string, number, integer, boolean, unknown,"
    " object, array or enum (declare richer tool arguments on the Python tool)",
    "skills": "Octavus skills run in Octavus's sandboxes; agentchat has none (use a @tool)",
    "mcpServers": "declare MCP servers in Python with mcp_tools(...) instead",
    "references": "on-demand reference documents are not supported",
    "steps": "worker-format agents (steps + output) are not supported; agentchat runs chats",
    "output": "worker-format agents (steps + output) are not supported; agentchat runs chats",
}
_AGENT_KEYS = (
    "model",
    "system",
    "input",
    "tools",
    "agentic",
    "maxSteps",
    "thinking",
    "maxOutputTokens",
    "cache",
    "temperature",
)
_UNSUPPORTED_AGENT = {
    "backupModel": "agentchat retries a failed step on the same model (Temporal retries)",
    "mcpServers": "declare MCP servers in Python with mcp_tools(...) and pass them in tools=",
    "skills": "Octavus skills run in Octavus's sandboxes; agentchat has none (use a @tool)",
    "references": "on-demand reference documents are not supported",
    "sandboxTimeout": "there are no skill sandboxes",
    "imageModel": "image generation is not supported",
    "videoModel": "video generation is not supported",
    "webSearch": "there is no built-in web search tool (use a @tool)",
    "speed": "fast mode is not supported",
    "maxToolOutputTokens": "tool outputs are not truncated for the model",
    "loopGuard": "there is no repetition guard (max_tokens bounds a step)",
    "contextManagement": "use the Agent's compaction= option (Compaction(...)) instead",
    "anthropic": "provider tools are not supported; construct AnthropicModel(...) in Python",
}
_BLOCK_KEYS: dict[str, tuple[str, ...]] = {
    "add-message": ("role", "prompt", "input", "display", "visible", "thread", "description"),
    "next-message": ("thread", "display", "independent", "output", "description"),
    "tool-call": ("tool", "input", "output", "display", "description"),
    "set-resource": ("resource", "value", "display", "description"),
    "start-thread": (
        "thread",
        "model",
        "thinking",
        "maxSteps",
        "system",
        "input",
        "tools",
        "display",
        "description",
    ),
    "serialize-thread": ("thread", "format", "output", "display", "description"),
}
_UNSUPPORTED_BLOCKS = {
    "generate-image": "image generation is not supported",
}
_UNSUPPORTED_BLOCK_KEYS = {
    "uiContent": "a message's UI content apart from its text is not supported",
    "responseType": "structured output (a typed JSON answer) is not supported",
}


def protocol_arguments(
    folder: str | Path, *, tools: Iterable[Tool] = (), **options: Any
) -> dict[str, Any]:
    """The `Agent` keyword arguments a protocol folder describes, `options` applied last.

    Args:
        folder: A folder with `protocol.yaml`, `prompts/*.md` and, optionally,
            `settings.json` (its `slug` names the agent; else the folder's name does).
        tools: The Python tools the protocol's `tools` describe, matched by name (a
            protocol's `create-ticket` is a Python tool named `create-ticket` or
            `create_ticket`); the model sees the protocol's name, description and parameters.
        **options: Any other `Agent` argument, overriding the file: `model="offline"` replaces
            `agent.model` (with its `thinking` and `maxOutputTokens`) and every thread's model.

    Raises:
        ConfigurationError: The folder is not a protocol agentchat can run; the message names
            the file (relative to the folder), the key and what is wrong.
    """
    return _Loader(Path(folder), list(tools), options).arguments()


@dataclasses.dataclass
class _ToolDecl:
    name: str
    description: str
    parameters: dict[str, Any]
    display: Display | None


@dataclasses.dataclass
class _Common:
    """What every block has: its display, description, thread and output variable."""

    display: Display | None
    description: str
    thread: str | None
    output: str | None


@dataclasses.dataclass
class _Block:
    """Where a handler block is, for messages: `handlers.<trigger>[<i>]` and its title."""

    key: str
    title: str
    data: dict[str, Any]


class _Loader:
    def __init__(self, folder: Path, tools: list[Tool], options: dict[str, Any]) -> None:
        self.folder = folder
        self.python_tools = tools
        self.options = options
        self.override_model = "model" in options
        self.data: dict[str, Any] = {}
        self.inputs: list[str] = []
        self.resources: dict[str, Resource] = {}
        self.readonly: set[str] = set()
        self.variables: list[str] = []
        self.tools: dict[str, _ToolDecl] = {}
        self.model_tools: list[str] = []
        self.threads: set[str] = set()

    # -- errors and plain checks -----------------------------------------------------------

    def fail(self, key: str, what: str, file: str = PROTOCOL_FILE) -> NoReturn:
        where = f"{file}: {key}" if key else file
        raise ConfigurationError(f"{where}: {what} (protocol folder {self.folder})")

    def mapping(self, value: Any, key: str, *, empty: bool = True) -> dict[str, Any]:
        if value is None and empty:
            return {}
        if not isinstance(value, dict):
            self.fail(key, f"must be a mapping, not {_kind(value)}")
        for name in value:
            if not isinstance(name, str):
                self.fail(key, f"keys must be strings, not {_kind(name)} {name!r}")
        return value

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value:
            self.fail(key, f"must be a non-empty string, not {_kind(value)}")
        return value

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, not {_kind(value)}")
        return value

    def integer(self, value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.fail(key, f"must be a positive integer, not {value!r}")
        return value

    def string_list(self, value: Any, key: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(key, f"must be a list of names, not {_kind(value)}")
        return [self.string(item, f"{key}[{i}]") for i, item in enumerate(value)]

    def keys(self, data: Mapping[str, Any], allowed: Iterable[str], key: str) -> None:
        allowed = tuple(allowed)
        for name in data:
            if name not in allowed:
                self.fail(f"{key}.{name}", f"unknown key (allowed: {', '.join(allowed)})")

    def name(self, value: str, key: str) -> str:
        if not _NAME.fullmatch(value):
            self.fail(key, f"{value!r} is not a valid variable name (letters, digits and '_')")
        return value

    def display(self, value: Any, key: str) -> Display:
        if value not in _DISPLAYS:
            self.fail(key, f"must be one of {', '.join(_DISPLAYS)}, not {value!r}")
        return cast(Display, value)

    # -- files ------------------------------------------------------------------------------

    def read_protocol(self) -> dict[str, Any]:
        if not self.folder.is_dir():
            raise ConfigurationError(f"protocol folder {self.folder} does not exist")
        path = self.folder / PROTOCOL_FILE
        if not path.is_file():
            self.fail("", "no such file: a protocol folder needs protocol.yaml")
        try:
            import yaml
        except ImportError:
            raise ConfigurationError(
                "reading an agent protocol needs PyYAML: pip install 'agentchat[protocol]'"
            ) from None
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            self.fail("", f"not UTF-8 text ({exc.reason})")
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(no position)"
            problem = exc.problem or exc.context or "invalid YAML"
            self.fail(where, f"invalid YAML: {problem}")
        except yaml.YAMLError as exc:
            self.fail("", f"invalid YAML: {exc}")
        if data is None:
            self.fail("", "the file is empty")
        return self.mapping(data, "(top level)", empty=False)

    def agent_name(self) -> str:
        path = self.folder / SETTINGS_FILE
        name = self.folder.resolve().name
        if path.is_file():
            try:
                settings = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                self.fail("", f"invalid JSON: {exc}", SETTINGS_FILE)
            if not isinstance(settings, dict):
                self.fail("", "must be a JSON object", SETTINGS_FILE)
            fmt = settings.get("format", "interactive")
            if fmt != "interactive":
                self.fail(
                    "format",
                    f"{fmt!r} agents are not supported: agentchat runs interactive (chat) ones",
                    SETTINGS_FILE,
                )
            slug = settings.get("slug")
            if slug is not None:
                if not isinstance(slug, str) or not is_agent_name(slug):
                    self.fail("slug", f"{slug!r} is not a valid agent name", SETTINGS_FILE)
                name = slug
        return name

    def prompt(self, ref: Any, key: str) -> tuple[str, str]:
        """(the prompt's path relative to the folder, its text)."""
        ref = self.string(ref, key)
        stem = ref[:-3] if ref.endswith(".md") else ref
        if stem.startswith("/") or ".." in Path(stem).parts:
            self.fail(key, f"prompt {ref!r} must name a file inside {PROMPTS}/")
        relative = f"{PROMPTS}/{stem}.md"
        path = self.folder / relative
        if not path.is_file():
            self.fail(key, f"prompt {ref!r}: no such file {relative}")
        try:
            return relative, path.read_text(encoding="utf-8").strip()
        except UnicodeDecodeError as exc:
            self.fail("", f"not UTF-8 text ({exc.reason})", relative)

    def bind(self, ref: Any, mapping: Any, known: list[str], key: str, field: str) -> str:
        """A prompt's text with its `{{LABEL}}`s turned into references to their sources.

        As in Octavus, a prompt sees only the names its block's (or the agent's) `input`
        passes to it: `[NAME]` passes NAME, `[LABEL: SOURCE]` passes SOURCE as LABEL.
        """
        passed = self.input_mapping(mapping, f"{key}.input")
        for label, source in passed.items():
            if source not in known:
                self.unknown(source, known, f"{key}.input.{label}")
        relative, text = self.prompt(ref, f"{key}.{field}")
        for name in templates.names(text):
            if name not in passed:
                listed = ", ".join(passed) or "none"
                self.fail(
                    "",
                    f"{{{{{name}}}}} is not passed to this prompt by {key}.input"
                    f" (passed: {listed})",
                    relative,
                )
        return _REFERENCE.sub(lambda m: "{{" + passed[m.group(1)] + m.group(2) + "}}", text)

    def input_mapping(self, value: Any, key: str) -> dict[str, str]:
        if value is None:
            return {}
        items: list[tuple[Any, Any]] = []
        if isinstance(value, dict):
            items = list(value.items())
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    items.append((item, item))
                elif isinstance(item, dict) and len(item) == 1:
                    items.append(next(iter(item.items())))
                else:
                    self.fail(f"{key}[{i}]", f"must be NAME or LABEL: SOURCE, not {item!r}")
        else:
            self.fail(key, f"must be a list of names or a mapping, not {_kind(value)}")
        passed: dict[str, str] = {}
        for label, source in items:
            self.name(self.string(label, key), key)
            passed[label] = self.name(self.string(source, f"{key}.{label}"), f"{key}.{label}")
        return passed

    def unknown(self, name: str, known: list[str], key: str) -> NoReturn:
        if name in self.variables:
            self.fail(
                key,
                f"variable {name!r} is not set by an earlier block of this handler"
                " (agentchat's handler variables last for one trigger's turn)",
            )
        self.fail(key, f"unknown variable {name!r} (known here: {', '.join(known) or 'none'})")

    # -- types ------------------------------------------------------------------------------

    def type_of(self, spec: dict[str, Any], key: str) -> tuple[Any, dict[str, Any]]:
        """(the Python annotation, the JSON schema) of a typed field."""
        if "type" not in spec:
            self.fail(key, "needs a type (string, number, integer, boolean, unknown, ...)")
        type_name = self.string(spec["type"], f"{key}.type")
        enum = spec.get("enum")
        if enum is not None:
            if type_name != "string" or not isinstance(enum, list) or not enum:
                self.fail(f"{key}.enum", "must be a non-empty list of strings on a string")
            values = tuple(self.string(v, f"{key}.enum") for v in enum)
            return Literal.__getitem__(values), {"type": "string", "enum": list(values)}
        if type_name.endswith("[]"):
            inner, schema = self.type_of({"type": type_name[:-2]}, key)
            return list[inner], {"type": "array", "items": schema}  # type: ignore[valid-type]
        if type_name == "array" and "items" in spec:
            items = self.mapping(spec["items"], f"{key}.items", empty=False)
            self.keys(items, ("type", "description", "enum"), f"{key}.items")
            inner, schema = self.type_of(items, f"{key}.items")
            return list[inner], {"type": "array", "items": schema}  # type: ignore[valid-type]
        if type_name in _SCALARS:
            schema = {"type": _JSON_TYPES[type_name]} if type_name in _JSON_TYPES else {}
            return _SCALARS[type_name], schema
        if type_name == "file" or type_name.startswith("file"):
            self.fail(f"{key}.type", "type 'file' is not supported: files travel as message parts")
        if type_name[:1].isupper():
            self.fail(
                f"{key}.type", f"custom type {type_name!r}: {_UNSUPPORTED_TOP_LEVEL['types']}"
            )
        self.fail(f"{key}.type", f"unknown type {type_name!r}")

    def model(
        self, class_name: str, fields: Any, key: str
    ) -> tuple[type[BaseModel] | None, list[str]]:
        fields = self.mapping(fields, key)
        definitions: dict[str, Any] = {}
        for field_name, raw in fields.items():
            where = f"{key}.{field_name}"
            self.name(field_name, where)
            spec = self.mapping(raw, where, empty=False)
            self.keys(spec, ("type", "description", "optional", "default", "enum", "items"), where)
            annotation, _ = self.type_of(spec, where)
            optional = self.boolean(spec.get("optional", False), f"{where}.optional")
            description = spec.get("description")
            if description is not None:
                description = self.string(description, f"{where}.description")
            if "default" in spec:
                default = spec["default"]
            elif optional:
                default, annotation = None, annotation | None
            else:
                default = ...
            definitions[field_name] = (annotation, Field(default, description=description))
        if not definitions:
            return None, []
        created = cast(type[BaseModel], create_model(class_name, **definitions))
        return created, list(definitions)

    # -- sections ---------------------------------------------------------------------------

    def arguments(self) -> dict[str, Any]:
        self.data = data = self.read_protocol()
        for key in data:
            if key in _UNSUPPORTED_TOP_LEVEL:
                self.fail(key, f"not supported: {_UNSUPPORTED_TOP_LEVEL[key]}")
            if key not in _TOP_LEVEL:
                self.fail(key, f"unknown key (known: {', '.join(_TOP_LEVEL)})")
        name = self.options.get("name") or self.agent_name()
        inputs, self.inputs = self.model(_class_name(name, "Inputs"), data.get("input"), "input")
        self.load_resources()
        self.load_variables()
        self.load_tools()
        agent = self.load_agent()
        triggers = self.load_triggers()
        arguments: dict[str, Any] = {
            "name": name,
            "inputs": inputs,
            "resources": list(self.resources.values()),
            "triggers": triggers,
            "tools": self.attach_tools(),
            **agent,
        }
        arguments.update(self.options)
        return arguments

    def load_resources(self) -> None:
        for name, raw in self.mapping(self.data.get("resources"), "resources").items():
            key = f"resources.{name}"
            self.name(name, key)
            spec = self.mapping(raw, key)
            self.keys(spec, ("type", "description", "default", "readonly"), key)
            if "type" in spec:
                self.type_of(spec, key)
            description = spec.get("description", "")
            if description:
                self.string(description, f"{key}.description")
            if self.boolean(spec.get("readonly", False), f"{key}.readonly"):
                self.readonly.add(name)
            self.resources[name] = Resource(
                name, default=spec.get("default"), description=description
            )

    def load_variables(self) -> None:
        for name, raw in self.mapping(self.data.get("variables"), "variables").items():
            key = f"variables.{name}"
            self.name(name, key)
            spec = self.mapping(raw, key)
            if "default" in spec:
                self.fail(
                    f"{key}.default",
                    "not supported: agentchat's handler variables start unset in each"
                    " trigger's turn and are set by the blocks' output",
                )
            self.keys(spec, ("type", "description"), key)
            if "type" in spec:
                self.type_of(spec, key)
            if name in self.inputs or name in self.resources:
                self.fail(key, f"{name!r} is already an input or a resource")
            self.variables.append(name)

    def load_tools(self) -> None:
        for name, raw in self.mapping(self.data.get("tools"), "tools").items():
            key = f"tools.{name}"
            spec = self.mapping(raw, key, empty=False)
            self.keys(spec, ("description", "display", "title", "parameters"), key)
            description = self.string(spec.get("description"), f"{key}.description")
            display = spec.get("display")
            if display is not None:
                display = self.display(display, f"{key}.display")
            if "title" in spec:
                self.fail(f"{key}.title", "not supported: tool display 'title' is not built")
            properties: dict[str, Any] = {}
            required: list[str] = []
            for param, raw_param in self.mapping(
                spec.get("parameters"), f"{key}.parameters"
            ).items():
                where = f"{key}.parameters.{param}"
                pspec = self.mapping(raw_param, where, empty=False)
                self.keys(pspec, ("type", "description", "optional", "enum", "items"), where)
                _, schema = self.type_of(pspec, where)
                if "description" in pspec:
                    schema["description"] = self.string(
                        pspec["description"], f"{where}.description"
                    )
                properties[param] = schema
                if not self.boolean(pspec.get("optional", False), f"{where}.optional"):
                    required.append(param)
            parameters: dict[str, Any] = {"type": "object", "properties": properties}
            if required:
                parameters["required"] = required
            self.tools[name] = _ToolDecl(name, description, parameters, display)

    def load_agent(self) -> dict[str, Any]:
        key = "agent"
        if "agent" not in self.data:
            self.fail(key, "missing: the agent's model and system prompt")
        spec = self.mapping(self.data["agent"], key, empty=False)
        for option in spec:
            if option in _UNSUPPORTED_AGENT:
                self.fail(f"{key}.{option}", f"not supported: {_UNSUPPORTED_AGENT[option]}")
        self.keys(spec, _AGENT_KEYS, key)
        arguments: dict[str, Any] = {}
        if not self.override_model:
            arguments["model"] = self.agent_model(spec)
        if "system" not in spec:
            self.fail(f"{key}.system", "missing: the system prompt's file under prompts/")
        known = [*self.inputs, *self.resources]
        for label, source in self.input_mapping(spec.get("input"), f"{key}.input").items():
            if source in self.variables:
                self.fail(
                    f"{key}.input.{label}",
                    f"variable {source!r}: handler variables are not available to the system"
                    " prompt in agentchat (only inputs and resources are)",
                )
        arguments["instructions"] = self.bind(
            spec.get("system"), spec.get("input"), known, key, "system"
        )
        self.model_tools = self.string_list(spec.get("tools"), f"{key}.tools")
        for i, tool_name in enumerate(self.model_tools):
            if tool_name not in self.tools:
                self.fail(f"{key}.tools[{i}]", self.no_tool(tool_name))
        agentic = self.boolean(spec.get("agentic", False), f"{key}.agentic")
        if "maxSteps" in spec:
            arguments["max_steps"] = self.integer(spec["maxSteps"], f"{key}.maxSteps")
        else:
            arguments["max_steps"] = 10 if agentic else 1
        if spec.get("cache", "auto") != "auto":
            self.fail(f"{key}.cache", "not supported: only 'auto' (Anthropic prompt caching)")
        if spec.get("temperature", "off") != "off":
            self.fail(f"{key}.temperature", "not supported: agentchat's models send none")
        return arguments

    def agent_model(self, spec: dict[str, Any]) -> str | Model:
        if "model" not in spec:
            self.fail("agent.model", "missing: a model such as anthropic/claude-sonnet-4-5")
        model = self.model_string(spec["model"], "agent.model")
        thinking = spec.get("thinking", "off")
        max_tokens = spec.get("maxOutputTokens")
        if thinking == "off" and max_tokens is None:
            return model
        if max_tokens is not None:
            max_tokens = self.integer(max_tokens, "agent.maxOutputTokens")
        if not model.startswith("anthropic:"):
            option = "thinking" if thinking != "off" else "maxOutputTokens"
            self.fail(f"agent.{option}", "not supported here: only anthropic models take it")
        if thinking != "off" and thinking not in _THINKING_BUDGETS:
            levels = ", ".join(_THINKING_BUDGETS)
            self.fail("agent.thinking", f"must be off, {levels}, not {thinking!r}")
        from agentchat.models.anthropic import AnthropicModel

        budget = _THINKING_BUDGETS.get(thinking)
        if max_tokens is not None and budget is not None:
            max_tokens += budget  # Octavus's cap is the answer's; Anthropic's includes thinking
        return AnthropicModel(
            model.partition(":")[2], thinking_budget=budget, max_tokens=max_tokens
        )

    def model_string(self, value: Any, key: str) -> str:
        model = self.string(value, key)
        provider, slash, model_id = model.partition("/")
        if not slash and _VARIABLE.fullmatch(model):
            self.fail(key, "not supported: a model chosen by an input (pass model= instead)")
        if not slash or not model_id:
            self.fail(key, f"{model!r}: expected provider/model-id, e.g. openai/gpt-4o")
        if provider not in ("anthropic", "openai"):
            self.fail(
                key,
                f"provider {provider!r} is not supported (anthropic/..., openai/...);"
                " pass model= to use another model",
            )
        return f"{provider}:{model_id}"

    def no_tool(self, name: str) -> str:
        return f"unknown tool {name!r} (declared under tools: {', '.join(self.tools) or 'none'})"

    # -- triggers and handlers --------------------------------------------------------------

    def load_triggers(self) -> list[Trigger]:
        triggers = self.mapping(self.data.get("triggers"), "triggers")
        handlers = self.mapping(self.data.get("handlers"), "handlers")
        for name in handlers:
            if name not in triggers:
                self.fail(f"handlers.{name}", f"no trigger named {name!r} under triggers")
        blocks: dict[str, list[_Block]] = {}
        for name in triggers:
            if name not in handlers:
                self.fail(f"triggers.{name}", "has no handler (add handlers." + name + ")")
            blocks[name] = self.blocks(name, handlers[name])
        for listed in blocks.values():  # the threads any handler starts, for all handlers
            for block in listed:
                if block.data["block"] == "start-thread":
                    thread = self.string(block.data.get("thread"), f"{block.key}.thread")
                    if thread == MAIN_THREAD:
                        self.fail(f"{block.key}.thread", "'main' is the chat's own thread")
                    self.threads.add(thread)
        result: list[Trigger] = []
        for name, raw in triggers.items():
            key = f"triggers.{name}"
            spec = self.mapping(raw, key)
            self.keys(spec, ("description", "input"), key)
            description = spec.get("description", "")
            if description:
                self.string(description, f"{key}.description")
            model, fields = self.model(
                _class_name(name, "Input"), spec.get("input"), f"{key}.input"
            )
            if name == USER_MESSAGE:
                self.check_user_message(fields, model, blocks[name])
                continue
            if not is_agent_name(name):
                self.fail(key, f"trigger name {name!r}: letters, digits or '_.-'")
            known = [*self.inputs, *self.resources, *fields]
            steps = [self.block(block, known) for block in blocks[name]]
            result.append(Trigger(name, description, input=model, steps=steps))
        return result

    def blocks(self, trigger: str, raw: Any) -> list[_Block]:
        key = f"handlers.{trigger}"
        handler = self.mapping(raw, key, empty=False)
        listed: list[_Block] = []
        for i, (title, data) in enumerate(handler.items()):
            where = f"{key}[{i}]"
            spec = self.mapping(data, f"{where} ({title})", empty=False)
            kind = spec.get("block")
            if kind in _UNSUPPORTED_BLOCKS:
                self.fail(
                    f"{where}.block", f"{kind!r} is not supported: {_UNSUPPORTED_BLOCKS[kind]}"
                )
            if kind not in _BLOCK_KEYS:
                self.fail(
                    f"{where}.block",
                    f"unknown block type {kind!r} in block {title!r}"
                    f" (known: {', '.join(_BLOCK_KEYS)})",
                )
            for option in spec:
                if option in _UNSUPPORTED_BLOCK_KEYS:
                    self.fail(
                        f"{where}.{option}", f"not supported: {_UNSUPPORTED_BLOCK_KEYS[option]}"
                    )
            self.keys(spec, ("block", *_BLOCK_KEYS[kind]), where)
            listed.append(_Block(where, title, spec))
        return listed

    def check_user_message(
        self, fields: list[str], model: type[BaseModel] | None, blocks: list[_Block]
    ) -> None:
        """`user-message` is agentchat's built-in message path: add the user's message as it
        was written to the main thread, then respond there. A handler that does that is
        accepted; anything else cannot be expressed and is an error."""
        key = f"triggers.{USER_MESSAGE}.input"
        if model is None or len(fields) != 1 or model.model_fields[fields[0]].annotation is not str:
            self.fail(key, "must have exactly one string field: the user's message")
        message = fields[0]
        why = (
            "agentchat answers a user message with its built-in path (the message added as"
            " written, then next-message on the main thread); handlers.user-message must be"
            " exactly an add-message of the user's message and a next-message"
        )
        if len(blocks) != 2:
            self.fail(f"handlers.{USER_MESSAGE}", f"{len(blocks)} blocks: {why}")
        add, respond = blocks
        if add.data["block"] != "add-message" or respond.data["block"] != "next-message":
            self.fail(f"handlers.{USER_MESSAGE}", why)
        text = self.bind(
            add.data.get("prompt"), add.data.get("input"), [message], add.key, "prompt"
        )
        checks = [
            (add, "role", add.data.get("role") == "user"),
            (add, "prompt", text == f"{{{{{message}}}}}"),
            (add, "visible", add.data.get("visible", True) is True),
            (add, "thread", add.data.get("thread", MAIN_THREAD) == MAIN_THREAD),
            (add, "display", add.data.get("display", "hidden") == "hidden"),
            (respond, "thread", respond.data.get("thread", MAIN_THREAD) == MAIN_THREAD),
            (respond, "output", "output" not in respond.data),
            (respond, "independent", not respond.data.get("independent", False)),
            (respond, "display", respond.data.get("display", "stream") == "stream"),
        ]
        for block, option, ok in checks:
            if not ok:
                self.fail(f"{block.key}.{option}", f"cannot be mapped: {why}")

    def block(self, block: _Block, known: list[str]) -> Block:
        """One handler block as agentchat's; `known` grows with the variables it sets."""
        data, key = block.data, block.key
        kind = data["block"]
        display = data.get("display")
        common = _Common(
            display=None if display is None else self.display(display, f"{key}.display"),
            description=self.string(data.get("description", block.title), f"{key}.description"),
            thread=self.thread(data.get("thread"), key) if kind != "start-thread" else None,
            output=self.output(data, key, required=kind == "serialize-thread"),
        )
        build = {
            "add-message": self.add_message,
            "next-message": self.next_message,
            "tool-call": self.tool_call,
            "set-resource": self.set_resource,
            "start-thread": self.start_thread,
            "serialize-thread": self.serialize_thread,
        }[kind]
        result = build(block, known, common)
        if not isinstance(result, AddMessage):  # display "name" shows the block's name
            result = dataclasses.replace(result, label=block.title)
        if common.output is not None and common.output not in known:
            known.append(common.output)
        return result

    def add_message(self, block: _Block, known: list[str], common: _Common) -> Block:
        data, key = block.data, block.key
        role = data.get("role")
        if role not in ("user", "assistant", "system"):
            self.fail(f"{key}.role", f"must be user, assistant or system, not {role!r}")
        if common.display not in (None, "hidden"):
            self.fail(
                f"{key}.display",
                "not supported: an add-message shows no operation in agentchat (its message"
                " is shown unless visible: false)",
            )
        visible = self.boolean(data.get("visible", True), f"{key}.visible")
        text = self.bind(data.get("prompt"), data.get("input"), known, key, "prompt")
        return AddMessage(role, text, hidden=not visible, thread=common.thread)

    def next_message(self, block: _Block, known: list[str], common: _Common) -> Block:
        data, key = block.data, block.key
        if "independent" in data:
            independent = self.boolean(data["independent"], f"{key}.independent")
            if independent and common.thread is None:
                self.fail(
                    f"{key}.independent",
                    "not supported on the main thread: its answer always joins the chat",
                )
        return Respond(common.thread, common.output, common.display or "stream", common.description)

    def tool_call(self, block: _Block, known: list[str], common: _Common) -> Block:
        data, key = block.data, block.key
        tool_name = self.string(data.get("tool"), f"{key}.tool")
        if tool_name not in self.tools:
            self.fail(f"{key}.tool", self.no_tool(tool_name))
        self.require_model_tool(tool_name, f"{key}.tool")
        args = self.tool_input(data.get("input"), tool_name, known, f"{key}.input")
        description = data.get("description", self.tools[tool_name].description)
        display = common.display or "description"
        return CallTool(tool_name, args, common.output, display, str(description))

    def set_resource(self, block: _Block, known: list[str], common: _Common) -> Block:
        data, key = block.data, block.key
        resource = self.string(data.get("resource"), f"{key}.resource")
        if resource not in self.resources:
            listed = ", ".join(self.resources) or "none"
            self.fail(f"{key}.resource", f"unknown resource {resource!r} (declared: {listed})")
        if resource in self.readonly:
            self.fail(f"{key}.resource", f"resource {resource!r} is readonly")
        if "value" not in data:
            self.fail(f"{key}.value", "missing: a variable or a string")
        value = self.value(data["value"], known, f"{key}.value")
        if not isinstance(value, str):
            self.fail(f"{key}.value", "not supported: a literal value other than a string")
        return SetResource(resource, value, common.display or "name", common.description)

    def serialize_thread(self, block: _Block, known: list[str], common: _Common) -> Block:
        fmt = block.data.get("format", "markdown")
        if fmt not in ("markdown", "json"):
            self.fail(f"{block.key}.format", f"must be markdown or json, not {fmt!r}")
        assert common.output is not None
        display = common.display or "name"
        return SerializeThread(common.output, common.thread, fmt, display, common.description)

    def start_thread(self, block: _Block, known: list[str], common: _Common) -> Block:
        data, key = block.data, block.key
        name = self.string(data.get("thread"), f"{key}.thread")
        if data.get("thinking", "off") != "off":
            self.fail(
                f"{key}.thinking",
                "not supported: a thread's model is a model string (thinking needs"
                " AnthropicModel(thinking_budget=...), on the agent's model only)",
            )
        model = None
        if "model" in data and not self.override_model:
            model = self.model_string(data["model"], f"{key}.model")
        max_steps = self.integer(data.get("maxSteps", 1), f"{key}.maxSteps")
        tools = self.string_list(data.get("tools"), f"{key}.tools")
        for i, tool_name in enumerate(tools):
            if tool_name not in self.tools:
                self.fail(f"{key}.tools[{i}]", self.no_tool(tool_name))
            self.require_model_tool(tool_name, f"{key}.tools[{i}]")
        if "system" not in data:
            self.fail(f"{key}.system", "missing: the thread's system prompt under prompts/")
        instructions = self.bind(data.get("system"), data.get("input"), known, key, "system")
        try:
            display = common.display or "hidden"
            return StartThread(
                name, instructions, model, max_steps, tools, display, common.description
            )
        except ConfigurationError as exc:
            self.fail(f"{key}.thread", str(exc))

    def require_model_tool(self, name: str, key: str) -> None:
        if name not in self.model_tools:
            self.fail(
                key,
                f"tool {name!r} must also be listed in agent.tools: agentchat's main model"
                " sees every tool of the agent, so a tool for blocks or threads only cannot be"
                " expressed",
            )

    def thread(self, value: Any, key: str) -> str | None:
        if value is None or value == MAIN_THREAD:
            return None
        name = self.string(value, f"{key}.thread")
        if name not in self.threads:
            listed = ", ".join(sorted(self.threads)) or "none"
            self.fail(
                f"{key}.thread", f"unknown thread {name!r} (started by start-thread: {listed})"
            )
        return name

    def output(self, data: dict[str, Any], key: str, *, required: bool) -> str | None:
        if "output" not in data:
            if required:
                self.fail(f"{key}.output", "missing: the variable that takes the result")
            return None
        name = self.string(data["output"], f"{key}.output")
        if name not in self.variables:
            listed = ", ".join(self.variables) or "none"
            self.fail(f"{key}.output", f"undeclared variable {name!r} (variables: {listed})")
        return name

    def value(self, value: Any, known: list[str], key: str) -> Any:
        """A block's bare value: an UPPER_SNAKE_CASE string names a variable, else a literal."""
        if isinstance(value, str) and _VARIABLE.fullmatch(value):
            if value not in known:
                self.unknown(value, known, key)
            return f"{{{{{value}}}}}"
        return value

    def tool_input(self, raw: Any, tool_name: str, known: list[str], key: str) -> dict[str, Any]:
        args = self.mapping(raw, key)
        schema = self.tools[tool_name].parameters
        for name in args:
            if name not in schema["properties"]:
                listed = ", ".join(schema["properties"]) or "none"
                self.fail(f"{key}.{name}", f"{tool_name!r} has no parameter {name!r} ({listed})")
        for name in schema.get("required", []):
            if name not in args:
                self.fail(key, f"missing {tool_name!r}'s required parameter {name!r}")
        return {name: self.value(value, known, f"{key}.{name}") for name, value in args.items()}

    # -- Python tools -----------------------------------------------------------------------

    def attach_tools(self) -> list[Tool]:
        """The Python tools, renamed and described as the protocol declares them."""
        matched: dict[str, Tool] = {}
        for tool in self.python_tools:
            if not isinstance(tool, Tool):
                raise ConfigurationError(
                    f"tools=: {tool!r} is not a Tool (decorate functions with @tool; MCP"
                    " servers are not supported with a protocol)"
                )
            name = next((n for n in self.tools if tool.name in (n, n.replace("-", "_"))), None)
            if name is None:
                self.fail(
                    "tools",
                    f"the Python tool {tool.name!r} is not declared (declared:"
                    f" {', '.join(self.tools) or 'none'})",
                )
            if name in matched:
                self.fail(f"tools.{name}", f"two Python tools implement it: {tool.name!r} too")
            matched[name] = tool
        attached: list[Tool] = []
        for name, decl in self.tools.items():
            if name not in matched:
                underscored = name.replace("-", "_")
                self.fail(
                    f"tools.{name}",
                    f"no Python tool implements it: pass one named {underscored!r} in tools=",
                )
            if name not in self.model_tools:
                continue  # declared but used by nothing: the model must not see it
            attached.append(self.describe(matched[name], decl))
        return attached

    def describe(self, tool: Tool, decl: _ToolDecl) -> Tool:
        key = f"tools.{decl.name}.parameters"
        python = tool.parameters.get("properties", {})
        declared = decl.parameters["properties"]
        for name in declared:
            if name not in python:
                self.fail(f"{key}.{name}", f"the Python tool {tool.name!r} takes no {name!r}")
        required = set(decl.parameters.get("required", []))
        for name in tool.parameters.get("required", []):
            if name not in declared:
                self.fail(key, f"missing {name!r}, which the Python tool {tool.name!r} requires")
            if name not in required:
                self.fail(f"{key}.{name}", "optional here, but the Python tool requires it")
        changes: dict[str, Any] = {
            "name": decl.name,
            "description": decl.description,
            "parameters": decl.parameters,
        }
        if "display" in {f.name for f in dataclasses.fields(Tool)}:
            changes["display"] = decl.display or "description"  # Octavus's default
        elif decl.display is not None:
            self.fail(
                f"tools.{decl.name}.display",
                "not supported yet: agentchat streams every tool call's parts",
            )
        try:
            return dataclasses.replace(tool, **changes)
        except ConfigurationError as exc:
            self.fail(f"tools.{decl.name}", str(exc))


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _class_name(name: str, suffix: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part) + suffix
