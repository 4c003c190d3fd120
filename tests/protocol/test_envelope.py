"""The envelope's names are the ones every writer uses, the Lua script included."""

from __future__ import annotations

import json
import re
from importlib import resources

from agentchat.protocol import envelope


def test_the_lua_script_writes_attempt_start_in_the_envelope_s_names() -> None:
    lua = resources.files("agentchat.stream").joinpath("append.lua").read_text()
    template = re.search(r"'(\{\"v\".*?)\}'\)", lua, re.S)
    assert template is not None, "append.lua no longer writes an attempt-start record"
    # Put sample values where the script concatenates its variables, then parse the JSON.
    sample = re.sub(r"'\s*\.\.\s*\w+\s*\.\.\s*'", "1", template.group(1) + "}")
    record = json.loads(sample)
    assert record["v"] == envelope.VERSION
    assert envelope.kind_of(record) == envelope.ATTEMPT_START
    assert {envelope.TURN, envelope.PRODUCER, envelope.ATTEMPT} <= set(record)


def test_a_record_is_built_in_the_current_version() -> None:
    record = envelope.envelope(envelope.RESYNC, first="1-0")
    assert record == {"v": envelope.VERSION, envelope.KIND: "resync", "first": "1-0"}
    assert envelope.kind_of(record) == envelope.RESYNC
    assert envelope.kind_of({}) == ""
