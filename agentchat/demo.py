"""The built-in `demo` agent: works offline, or on OpenAI when a provider is configured."""

from __future__ import annotations

import os

from agentchat.agent import Agent
from agentchat.models import Model, OfflineModel

__all__ = ["demo", "demo_model"]


def demo_model() -> str | Model:
    """`openai:<AGENTCHAT_DEMO_MODEL or gpt-4o-mini>` when OPENAI_API_KEY or OPENAI_BASE_URL is
    set, else the offline model."""
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        return "openai:" + os.environ.get("AGENTCHAT_DEMO_MODEL", "gpt-4o-mini")
    return OfflineModel(tokens_per_second=float(os.environ.get("AGENTCHAT_DEMO_RATE", "25")))


demo = Agent(
    name="demo",
    model=demo_model(),
    instructions="You are agentchat's demo assistant. Answer briefly and helpfully.",
)
