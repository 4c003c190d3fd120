"""The agent the benchmark worker serves: the loopback model server named by OPENAI_BASE_URL."""

from __future__ import annotations

from agentchat import Agent

agents = [Agent(name="bench", model="openai:bench-model")]
