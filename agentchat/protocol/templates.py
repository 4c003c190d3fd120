"""Prompt templates: `{{NAME}}` and `{{NAME.field}}` references to a chat's inputs, resources,
a trigger's input and a handler's variables.

Pure functions: the agent checks its templates with `check` when it is defined (an unknown
name fails there, not mid-turn), and the workflow and the worker render them with `render`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["check", "names", "render", "render_value", "value_names"]

_REFERENCE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_]+)*)\s*\}\}")


def names(template: str) -> list[str]:
    """The root names a template references, in order, each once."""
    found: list[str] = []
    for match in _REFERENCE.finditer(template):
        if match.group(1) not in found:
            found.append(match.group(1))
    return found


def check(template: str, known: Iterable[str], *, where: str) -> None:
    """Raise `ValueError` naming `where` and the first reference to a name not in `known`."""
    allowed = set(known)
    for name in names(template):
        if name not in allowed:
            choices = ", ".join(sorted(allowed)) or "none"
            raise ValueError(f"{where}: unknown template name {{{{{name}}}}} (known: {choices})")


def _lookup(values: Mapping[str, Any], name: str, path: str) -> Any:
    value: Any = values.get(name)
    for key in path.split(".")[1:] if path else []:
        if isinstance(value, Mapping):
            value = value.get(key)
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def render(template: str, values: Mapping[str, Any]) -> str:
    """The template with each reference replaced by its value: strings as they are, other
    values as JSON, a missing one (or field) as nothing."""
    return _REFERENCE.sub(lambda m: _text(_lookup(values, m.group(1), m.group(2))), template)


def render_value(template: Any, values: Mapping[str, Any]) -> Any:
    """Render every string inside a JSON-like value; a string that is one reference alone
    becomes the referenced value itself (a number stays a number, an object an object)."""
    if isinstance(template, str):
        match = _REFERENCE.fullmatch(template.strip())
        if match is not None:
            return _lookup(values, match.group(1), match.group(2))
        return render(template, values)
    if isinstance(template, Mapping):
        return {key: render_value(item, values) for key, item in template.items()}
    if isinstance(template, list):
        return [render_value(item, values) for item in template]
    return template


def value_names(template: Any) -> list[str]:
    """The root names referenced anywhere inside a JSON-like value."""
    if isinstance(template, str):
        return names(template)
    items: Iterable[Any] = ()
    if isinstance(template, Mapping):
        items = template.values()
    elif isinstance(template, list):
        items = template
    found: list[str] = []
    for item in items:
        for name in value_names(item):
            if name not in found:
                found.append(name)
    return found
