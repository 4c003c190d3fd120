"""The chunk -> UIMessage fold, against the corpus the page's `js/fold.js` is checked on too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentchat.protocol.messages import MessageBuilder, UIMessage

CORPUS = json.loads((Path(__file__).parent / "fold_corpus.json").read_text())


def fold(chunks: list[dict[str, Any]]) -> UIMessage:
    builder = MessageBuilder()
    for chunk in chunks:
        builder.apply_wire(chunk)
    return builder.snapshot()


@pytest.mark.parametrize("case", CORPUS, ids=[case["name"] for case in CORPUS])
def test_the_fold_gives_the_corpus_message(case: dict[str, Any]) -> None:
    assert fold(case["chunks"]).model_dump(mode="json") == case["message"]


def test_the_corpus_covers_every_tool_state() -> None:
    states = {
        part["state"]
        for case in CORPUS
        for part in case["message"]["parts"]
        if "toolCallId" in part
    }
    assert states >= {
        "input-available",
        "output-available",
        "output-error",
        "output-denied",
    }
    kinds = {chunk["type"] for case in CORPUS for chunk in case["chunks"]}
    assert {"tool-approval-request", "reasoning-delta", "message-metadata", "abort"} <= kinds


def test_reading_mid_stream_then_streaming_on_keeps_every_delta() -> None:
    builder = MessageBuilder("m")
    builder.apply_wire({"type": "text-start", "id": "t"})
    builder.apply_wire({"type": "text-delta", "id": "t", "delta": "a"})
    assert builder.text() == "a"
    builder.apply_wire({"type": "text-delta", "id": "t", "delta": "b"})
    assert builder.parts[0]["text"] == "ab"
    builder.apply_wire({"type": "text-delta", "id": "t", "delta": "c"})
    builder.apply_wire({"type": "text-end", "id": "t"})
    assert builder.parts == [{"type": "text", "text": "abc", "state": "done"}]


def test_a_superseded_producer_loses_its_open_text() -> None:
    builder = MessageBuilder("m")
    builder.apply_wire({"type": "text-start", "id": "t"}, producer="old")
    builder.apply_wire({"type": "text-delta", "id": "t", "delta": "stale"}, producer="old")
    builder.reset("old")
    builder.apply_wire({"type": "text-delta", "id": "t", "delta": "fresh"}, producer="new")
    assert builder.text() == "fresh"
