"""The agents the benchmark worker serves, on the loopback model server at OPENAI_BASE_URL."""

from __future__ import annotations

import os

from agentchat import Agent
from agentchat.tools import tool


@tool
async def noop(value: str = "") -> str:
    """Return at once: measures what a tool call itself costs."""
    return "ok"


agents = [
    Agent(name="bench", model="openai:bench-model"),
    Agent(name="bench-tools", model="openai:bench-model", tools=[noop]),
]

if os.environ.get("ANTHROPIC_BASE_URL"):  # the latency benchmark's Anthropic rows
    agents.append(Agent(name="bench-claude", model="anthropic:bench-model"))
