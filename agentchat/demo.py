"""The built-in demo agents: `demo` (with a tool and a sub-agent) and `researcher`.

They work offline, or on OpenAI when a provider is configured. Try:

    agentchat send demo "What is the current time?"
    agentchat send demo "Ask researcher about durable execution"
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from agentchat.agent import Agent
from agentchat.models import Model, OfflineModel
from agentchat.subagents import agent_tool
from agentchat.tools import tool

__all__ = ["agents", "current_time", "demo", "demo_model", "researcher"]


def demo_model(words: int = 0) -> str | Model:
    """`openai:<AGENTCHAT_DEMO_MODEL or gpt-4o-mini>` when OPENAI_API_KEY or OPENAI_BASE_URL is
    set, else the offline model."""
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        return "openai:" + os.environ.get("AGENTCHAT_DEMO_MODEL", "gpt-4o-mini")
    rate = float(os.environ.get("AGENTCHAT_DEMO_RATE", "25"))
    return OfflineModel(tokens_per_second=rate, words=words)


@tool
async def current_time(timezone: str = "UTC") -> str:
    """The current date and time.

    Args:
        timezone: Only UTC is supported by this demo.
    """
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


researcher = Agent(
    name="researcher",
    model=demo_model(),
    instructions="You research a topic and report back in a short paragraph.",
)

demo = Agent(
    name="demo",
    model=demo_model(),
    instructions=(
        "You are agentchat's demo assistant. Answer briefly. Use current_time for the time"
        " and ask_researcher for anything that needs research."
    ),
    tools=[current_time, agent_tool("researcher")],
)

agents = [demo, researcher]
