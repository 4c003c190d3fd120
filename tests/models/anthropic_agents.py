"""Agents for worker subprocesses in tests/models (`--agents tests.models.anthropic_agents:all`).

Their model is `anthropic:` through `ANTHROPIC_BASE_URL`, the test process's loopback server.
"""

from __future__ import annotations

from datetime import timedelta

from agentchat import Agent

claude = Agent(name="claude", model="anthropic:claude-test", step_heartbeat=timedelta(seconds=2))

all = [claude]
