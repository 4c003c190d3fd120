"""A small JSON-schema check for trigger input, deterministic enough for a workflow's update
validator: required properties, types, enums, `anyOf` (optional fields) and local `$ref`s, as
pydantic's `model_json_schema()` writes them. The worker validates fully with the pydantic
model when it uses the value; this check only has to refuse what is missing or mistyped before
anything is queued, naming the field."""

from __future__ import annotations

from typing import Any

__all__ = ["problem"]

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = root.get("$defs", {}).get(ref.removeprefix("#/$defs/"))
        if isinstance(target, dict):
            return target
    return schema


def _type_ok(kind: str, value: Any) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False  # True is an int to Python, not to JSON
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(kind, (object,)))


def _check(schema: dict[str, Any], value: Any, where: str, root: dict[str, Any]) -> str | None:
    schema = _resolve(schema, root)
    options = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(options, list):
        problems = [_check(o, value, where, root) for o in options if isinstance(o, dict)]
        if problems and all(p is not None for p in problems):
            return problems[0]
        return None
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
    if kinds and not any(_type_ok(k, value) for k in kinds):
        return f"{where}: expected {' or '.join(kinds)}, got {type(value).__name__}"
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        return f"{where}: expected one of {enum}, got {value!r}"
    if isinstance(value, dict):
        return _check_object(schema, value, where, root)
    items = schema.get("items")
    if isinstance(value, list) and isinstance(items, dict):
        for i, item in enumerate(value):
            found = _check(items, item, f"{where}[{i}]", root)
            if found is not None:
                return found
    return None


def _check_object(
    schema: dict[str, Any], value: dict[str, Any], where: str, root: dict[str, Any]
) -> str | None:
    properties = schema.get("properties") or {}
    for name in schema.get("required") or []:
        if name not in value:
            return f"{where}.{name}: missing (required)"
    for name, item in value.items():
        sub = properties.get(name)
        if isinstance(sub, dict):
            found = _check(sub, item, f"{where}.{name}", root)
            if found is not None:
                return found
        elif schema.get("additionalProperties") is False:
            return f"{where}.{name}: not a field (expected {', '.join(properties) or 'none'})"
    return None


def problem(schema: dict[str, Any], value: Any, *, where: str = "input") -> str | None:
    """What is wrong with `value` under `schema` (the first problem, naming its field), or
    None when it passes."""
    return _check(schema, value, where, schema)
