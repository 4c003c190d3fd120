"""The agent the chaos suite's worker subprocesses serve (`--agents tests.chaos.agents:agents`).

It calls the loopback OpenAI-compatible server at `OPENAI_BASE_URL`, which the test process
runs: each turn's answer is known in advance, so a reader's text can be checked word for word.
The step limits are the defaults on purpose: the figures are what a deployment gets.
"""

from __future__ import annotations

from agentchat import Agent

chaos = Agent(name="chaos", model="openai:chaos-model", instructions="Answer in numbered words.")

agents = [chaos]
