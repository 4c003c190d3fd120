"""The agent the chaos suite's worker subprocesses serve (`--agents tests.chaos.agents:agents`).

It calls the loopback OpenAI-compatible server at `OPENAI_BASE_URL`, which the test process
runs: each turn's answer is known in advance, so a reader's text can be checked word for word.
The step's heartbeat and retry timing are the defaults on purpose: the figures are what a
deployment gets. Its attempts are not: with a worker killed every few seconds, one step can be
killed five times in a row (the default `step_max_attempts`), and the turn then fails by design;
the suite is about what is lost, so a step may be retried until it is through.
"""

from __future__ import annotations

from agentchat import Agent

chaos = Agent(
    name="chaos",
    model="openai:chaos-model",
    instructions="Answer in numbered words.",
    step_max_attempts=50,
)

agents = [chaos]
