"""Agents for worker subprocesses started by the tests (`--agents tests.agents:all`)."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import timedelta

from pydantic import BaseModel

from agentchat import Agent
from agentchat.agent import Compaction, SummaryRequest
from agentchat.models import OfflineModel
from agentchat.subagents import agent_tool
from agentchat.tools import ToolContext, client_tool, tool
from agentchat.triggers import Resource, Respond, SetResource, Trigger

#: A long, slow, deterministic answer: a retried step reproduces it exactly.
slow = Agent(
    name="slow",
    model=OfflineModel(
        tokens_per_second=float(os.environ.get("SLOW_RATE", "25")), first_token_delay=0.0, words=80
    ),
    step_heartbeat=timedelta(seconds=2),
)
quick = Agent(name="quick", model=OfflineModel(tokens_per_second=0, first_token_delay=0.0))


@tool(heartbeat=timedelta(seconds=2))
async def slow_tool(request: str, ctx: ToolContext) -> str:
    """A slow side effect that records every attempt in $TOOL_LOG.

    Args:
        request: What to do.
    """
    line = json.dumps({"key": ctx.idempotency_key, "attempt": ctx.attempt}) + "\n"
    await asyncio.to_thread(_append, os.environ["TOOL_LOG"], line)
    await asyncio.sleep(float(os.environ.get("TOOL_SECONDS", "4")))
    return f"done: {request}"


def _append(path: str, line: str) -> None:
    with open(path, "a") as log:
        log.write(line)


tooly = Agent(
    name="tooly",
    model=OfflineModel(tokens_per_second=0, first_token_delay=0.0),
    tools=[slow_tool],
    step_heartbeat=timedelta(seconds=2),
)
clienty = Agent(
    name="clienty",
    model=OfflineModel(tokens_per_second=0, first_token_delay=0.0),
    tools=[client_tool("pick_color", "Ask the user to pick a colour.")],
)
researcher = Agent(
    name="researcher",
    model=OfflineModel(
        tokens_per_second=float(os.environ.get("RESEARCH_RATE", "20")),
        first_token_delay=0.0,
        words=40,
    ),
    step_heartbeat=timedelta(seconds=2),
)
lead = Agent(
    name="lead",
    model=OfflineModel(tokens_per_second=0, first_token_delay=0.0),
    tools=[agent_tool("researcher")],
    step_heartbeat=timedelta(seconds=2),
)


async def slow_summary(request: SummaryRequest) -> str:
    """A summariser that records every attempt in $TOOL_LOG and takes $SUMMARY_SECONDS."""
    line = json.dumps({"summary": len(request.messages), "previous": request.previous}) + "\n"
    await asyncio.to_thread(_append, os.environ["TOOL_LOG"], line)
    await asyncio.sleep(float(os.environ.get("SUMMARY_SECONDS", "4")))
    return f"summary of {len(request.messages)} messages"


#: Compacts every settled turn before each turn's first step (a window of 100 tokens).
compacting = Agent(
    name="compacting",
    model=OfflineModel(tokens_per_second=0, first_token_delay=0.0),
    context_window=100,
    compaction=Compaction(keep_turns=0, summarize=slow_summary),
    step_heartbeat=timedelta(seconds=2),
)


@tool
async def remember(fact: str, ctx: ToolContext) -> str:
    """Remember a fact for the rest of the chat.

    Args:
        fact: The fact.
    """
    ctx.set_resource("FACT", fact)
    return "remembered"


class Label(BaseModel):
    LABEL: str


class Who(BaseModel):
    NAME: str


#: Resources set by a tool and by a trigger's block; slow answers, to be killed mid-turn.
keeper = Agent(
    name="keeper",
    model=OfflineModel(
        tokens_per_second=float(os.environ.get("SLOW_RATE", "25")), first_token_delay=0.0, words=80
    ),
    instructions="{{NAME}} told you: {{FACT}}; label: {{LABEL}}",
    inputs=Who,
    tools=[remember],
    resources=[Resource("FACT", default=""), Resource("LABEL", default="none")],
    triggers=[Trigger("label", input=Label, steps=[SetResource("LABEL", "{{LABEL}}"), Respond()])],
    step_heartbeat=timedelta(seconds=2),
)

all = [slow, quick, tooly, clienty, researcher, lead, compacting, keeper]
