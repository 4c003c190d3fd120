"""Prompt templates and the trigger-input schema check: pure functions, no servers."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from agentchat.protocol import schemas, templates
from agentchat.protocol.triggers import trigger_message, trigger_of


def test_render_fills_names_and_fields() -> None:
    values = {"COMPANY": "Acme", "TICKET": {"id": 7, "tags": ["a", "b"]}, "N": 3}
    text = "{{COMPANY}} #{{TICKET.id}} {{ TICKET.tags.1 }} {{N}} {{TICKET}}"
    assert templates.render(text, values) == 'Acme #7 b 3 {"id": 7, "tags": ["a", "b"]}'


def test_render_missing_values_are_empty() -> None:
    assert templates.render("[{{X}}][{{Y.z}}]", {"Y": "text"}) == "[][]"


def test_render_value_keeps_a_lone_reference_typed() -> None:
    values = {"N": 3, "T": {"id": "t-1"}}
    rendered = templates.render_value({"n": "{{N}}", "s": "n={{N}}", "l": ["{{T.id}}", 1]}, values)
    assert rendered == {"n": 3, "s": "n=3", "l": ["t-1", 1]}


def test_names_and_check() -> None:
    assert templates.names("{{A}} {{B.c}} {{A}} {not} {{ 1x }}") == ["A", "B"]
    assert templates.value_names({"x": ["{{A}}", {"y": "{{B}}"}], "z": 1}) == ["A", "B"]
    templates.check("{{A}} {{B.c}}", ["A", "B"], where="here")
    with pytest.raises(ValueError, match=r"here: unknown template name \{\{C\}\}"):
        templates.check("{{A}} {{C}}", ["A", "B"], where="here")


class Rating(BaseModel):
    RATING: int
    COMMENT: str | None = None
    KIND: dict[str, Any] = {}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"RATING": 5}, None),
        ({"RATING": 5, "COMMENT": None}, None),
        ({"RATING": 5, "COMMENT": "ok"}, None),
        ({}, "input.RATING: missing (required)"),
        ({"RATING": "five"}, "input.RATING: expected integer, got str"),
        ({"RATING": True}, "input.RATING: expected integer, got bool"),
        ({"RATING": 1, "COMMENT": 2}, "input.COMMENT: expected string, got int"),
        ("no", "input: expected object, got str"),
    ],
)
def test_schema_problem_names_the_field(value: Any, problem: str | None) -> None:
    assert schemas.problem(Rating.model_json_schema(), value) == problem


def test_schema_follows_refs_and_arrays() -> None:
    class Item(BaseModel):
        sku: str

    class Order(BaseModel):
        items: list[Item]

    schema = Order.model_json_schema()
    assert schemas.problem(schema, {"items": [{"sku": "a"}]}) is None
    assert schemas.problem(schema, {"items": [{"sku": 1}]}) == (
        "input.items[0].sku: expected string, got int"
    )


def test_trigger_carrier_round_trips() -> None:
    message = trigger_message("trg-1", "request-human", {"REASON": "stuck"})
    assert message.role == "user"
    assert trigger_of(message) == ("request-human", {"REASON": "stuck"})
    assert trigger_of(message.model_copy(update={"parts": [{"type": "text", "text": "x"}]})) is None
